"""Hydra launcher plugins run gdsweep's jobs unchanged: submitit_local for real, the Slurm and Ray presets composed
(Slurm for real: tests/test_slurm.py)."""

import pytest
from hydra import compose, initialize_config_module

from tests.conftest import embedded_client
from tests.test_multirun import check_sweep


@pytest.mark.slow
def test_submitit_local_launcher_runs_every_job_into_the_sweep(cli, tmp_path):
    lrs = ["0.1", "1.0", "1.1"]
    result = cli(f"lr={','.join(lrs)}", "N=40", "hydra/launcher=submitit_local", "--multirun")
    assert result.returncode == 0, result.stderr
    _, children = check_sweep(embedded_client(tmp_path), lrs, 40)
    assert {c.data.params["lr"]: c.data.tags["regime"] for c in children} == {
        "0.1": "converging",
        "1.0": "oscillating",
        "1.1": "diverging",
    }
    assert list((tmp_path / "outputs" / "sweeps").glob("*/.submitit"))  # submitit ran them, not Hydra's basic launcher


def test_slurm_preset_composes_with_the_usual_fields(tmp_path):
    with initialize_config_module("gdsweep.conf", version_base="1.3"):
        cfg = compose(
            "config",
            overrides=["hydra/launcher=slurm", "hydra.launcher.partition=gpu", "hydra.launcher.gpus_per_node=1"],
            return_hydra_config=True,
        )
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert (launcher.partition, launcher.gpus_per_node, launcher.timeout_min, launcher.cpus_per_task) == (
        "gpu",
        1,
        60,
        2,
    )


def test_ray_preset_composes_for_hydra_ray_launcher_without_ray_installed():
    """Ray itself is not run here (README, "Beyond one machine": its daemons listen beyond loopback)."""
    with initialize_config_module("gdsweep.conf", version_base="1.3"):
        cfg = compose(
            "config",
            overrides=[
                "hydra/launcher=ray",
                "hydra.launcher.ray.init.address=auto",
                "+hydra.launcher.ray.init.num_cpus=8",
            ],
            return_hydra_config=True,
        )
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher"
    assert dict(launcher.ray.init) == {"address": "auto", "object_store_memory": None, "num_cpus": 8}
    assert dict(launcher.ray.remote) == {"num_cpus": 1, "num_gpus": 0}


def test_a_run_in_a_slurm_job_names_the_job_as_scancel_takes_it():
    """Outside a SLURM cluster too: an array task's bare SLURM_JOB_ID may be the whole array's id
    (scancel on it cancels every task), so the tag names the task, as squeue lists it."""
    from gdsweep.tracking.provenance import slurm

    assert slurm({}) == {}
    assert slurm({"SLURM_JOB_ID": "41"}) == {"slurm.job_id": "41"}
    task = {"SLURM_JOB_ID": "40", "SLURM_ARRAY_JOB_ID": "40", "SLURM_ARRAY_TASK_ID": "2", "SLURM_PROCID": "0"}
    assert slurm({**task, "SUBMITIT_FOLDER": "/scratch/s/.submitit/%j"}) == {
        "slurm.job_id": "40_2",
        "slurm.array_job_id": "40",
        "slurm.array_task_id": "2",
        "slurm.log": "/scratch/s/.submitit/40_2/40_2_0_log.out",
    }
