"""What a run was computed with, as MLflow tags: versions, device, the code's git commit, the SLURM job."""

from __future__ import annotations

import functools
import os
import platform
import subprocess
from collections.abc import Mapping
from pathlib import Path

import mlflow
import torch

import gdsweep


def tags(device: torch.device) -> dict[str, str]:
    """gdsweep, torch, Python and MLflow versions, the device by name, and the commit when known."""
    found = {
        "gdsweep.version": gdsweep.__version__,
        "torch.version": torch.__version__,
        "python.version": platform.python_version(),
        "mlflow.version": mlflow.__version__,
        "device": str(device),
        "device.name": _device_name(device),
    }
    commit = _git_commit()
    if commit:
        found["mlflow.source.git.commit"] = commit
    return {**found, **slurm()}


def slurm(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The SLURM job a run ran in (env: os.environ; none outside SLURM), and its submitit log if submitit launched it.

    slurm.job_id is the id squeue, sacct and scancel take: <array job>_<task> for an array task (its
    bare SLURM_JOB_ID can be the whole array's id, and scancel on that cancels every task), which
    also names submitit's log folder, <sweep dir>/.submitit/<slurm.job_id>/.
    """
    env = os.environ if env is None else env
    if "SLURM_JOB_ID" not in env:
        return {}
    array, task = env.get("SLURM_ARRAY_JOB_ID"), env.get("SLURM_ARRAY_TASK_ID")
    found = {"slurm.job_id": f"{array}_{task}" if array and task else env["SLURM_JOB_ID"]}
    if array and task:
        found.update({"slurm.array_job_id": array, "slurm.array_task_id": task})
    folder = env.get("SUBMITIT_FOLDER")  # set by submitit in the job, with its %j unexpanded
    if folder:
        job = found["slurm.job_id"]
        found["slurm.log"] = str(Path(folder.replace("%j", job)) / f"{job}_{env.get('SLURM_PROCID', '0')}_log.out")
    return found


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()


@functools.cache  # one lookup per process, however many jobs it runs
def _git_commit() -> str | None:
    """The commit of the checkout gdsweep runs from, if it is one (an installed wheel is not)."""
    source = Path(gdsweep.__file__).resolve().parent.parent
    if not (source / ".git").exists():
        return None
    try:
        done = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None
