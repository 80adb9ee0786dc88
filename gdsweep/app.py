"""The `python -m gdsweep` / `gdsweep` entry point: a thin @hydra.main.

Torch and MLflow are imported inside the task, so `--help` and config errors stay fast.
"""

from __future__ import annotations

import os
import sys

import hydra
from omegaconf import DictConfig

from gdsweep import config  # noqa: F401  (registers the schema with Hydra's ConfigStore)
from gdsweep.errors import GdsweepError


@hydra.main(version_base="1.3", config_path="pkg://gdsweep.conf", config_name="config")
def _task(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        if not multirun:
            config.validate(cfg)  # fail fast, before torch and MLflow are imported
        from gdsweep.runner import run_job

        run_job(cfg)
    except GdsweepError as err:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(err.line(), file=sys.stderr, flush=True)
        if not multirun:
            sys.exit(2)  # in a sweep the job's FAILED run is recorded; the sweep exits non-zero at its end


def main() -> None:
    _task()


if __name__ == "__main__":
    main()
