"""What a run was computed with, as MLflow tags: versions, device, and the code's git commit."""

from __future__ import annotations

import functools
import platform
import subprocess
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
