"""The `python -m gdsweep` / `gdsweep` entry point: a thin @hydra.main.

Torch and MLflow are imported inside the task, so `--help` and config errors stay fast.
"""

from __future__ import annotations

import os
import sys

import hydra
from omegaconf import DictConfig

from gdsweep import config
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
    try:
        _check_function_choice(sys.argv[1:])
    except GdsweepError as err:
        sys.exit(err.line())
    _task()


def _check_function_choice(arguments: list[str]) -> None:
    """Name an unknown `function=NAME` in one line, before Hydra answers with its search path."""
    from importlib.resources import files

    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    overrides = [a for a in arguments if a.split("=", 1)[0].lstrip("~+") == "function" and "=" in a]
    if not overrides:
        return
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except OverrideParseException:  # malformed: Hydra's own message says where
        return
    folder = files("gdsweep.conf").joinpath("function")
    known = sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))
    for override in parsed:
        choices = (
            override.sweep_string_iterator() if override.is_sweep_override() else [override.get_value_element_as_str()]
        )
        for choice in choices:
            if choice not in known:
                raise GdsweepError(
                    "function", f"no function named {choice!r}", f"use function=NAME, one of: {', '.join(known)}"
                )


if __name__ == "__main__":
    main()
