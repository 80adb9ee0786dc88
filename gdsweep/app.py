"""The `python -m gdsweep` / `gdsweep` entry point: a thin @hydra.main.

Torch and MLflow are imported inside the task, so `--help` and config errors stay fast.
"""

from __future__ import annotations

import os
import sys

import hydra
from omegaconf import DictConfig

from gdsweep import config, lifecycle
from gdsweep.errors import GdsweepError


@hydra.main(version_base="1.3", config_path="pkg://gdsweep.conf", config_name="config")
def _task(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        if not multirun:
            config.validate(cfg)  # fail fast, before torch and MLflow are imported
            config.scan_spec(cfg)
        from gdsweep.jobs.task import run_job

        run_job(cfg)
    except GdsweepError as err:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        if not multirun:
            err.exit()
        print(err.line(), file=sys.stderr, flush=True)  # the job's FAILED run is recorded; the sweep exits 1 at its end
    except KeyboardInterrupt as stop:  # Ctrl-C or SIGTERM (signals.Stopped): the run is KILLED with its steps logged
        print(f"gdsweep: {stop or 'interrupted'}", file=sys.stderr, flush=True)
        sys.exit(getattr(stop, "exit_code", 130))  # a sweep stops here too


MULTIRUN_FLAGS = ("--multirun", "-m")


def main() -> None:
    """The command; it ends through lifecycle.leave, without the interpreter's teardown."""
    lifecycle.run(_command)


def _command() -> None:
    sys.argv[1:] = _flags_first(sys.argv[1:])
    try:
        _precheck(sys.argv[1:])
    except GdsweepError as err:
        err.exit()
    _task()


def _flags_first(arguments: list[str]) -> list[str]:
    """`--multirun`/`-m` wherever it stands: Hydra's argparse takes it only before or after all overrides."""
    flags = [a for a in arguments if a in MULTIRUN_FLAGS]
    return [*flags[:1], *(a for a in arguments if a not in MULTIRUN_FLAGS)] if flags else arguments


def _precheck(arguments: list[str]) -> None:
    """Name what Hydra itself would trip on in a many-line message, in one line, before it runs.

    An unknown `function=NAME` or `optimizer=NAME` (Hydra answers with its search path) and an `outputs_dir` that
    cannot be written (Hydra fails creating its run folder there).
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    keys = ("function", "optimizer", "outputs_dir")
    chosen = [a for a in arguments if "=" in a and a.split("=", 1)[0].lstrip("~+") in keys]
    _check_expression_quoting(arguments)
    try:
        parsed = OverridesParser.create().parse_overrides(chosen)
    except OverrideParseException:  # malformed: Hydra's own message says where
        return
    values = {key: ["outputs"] if key == "outputs_dir" else [] for key in keys}
    for override in parsed:
        if override.is_sweep_override():
            values[override.key_or_group] = list(override.sweep_string_iterator())
        elif not override.is_delete():
            values[override.key_or_group] = [override.get_value_element_as_str()]
    _check_functions(values["function"])
    _check_functions(values["optimizer"], "optimizer")
    for folder in values["outputs_dir"]:
        _check_writable(folder)


def _check_expression_quoting(arguments: list[str]) -> None:
    """An expression Hydra's grammar cannot read unquoted (parentheses, commas, spaces): show it quoted."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    for argument in arguments:
        key, _, value = argument.partition("=")
        if key.lstrip("~+") != "function.expr" or not value:
            continue
        try:
            OverridesParser.create().parse_overrides([argument])
        except OverrideParseException:
            quote = "'"
            shown = f"{key}={quote}{value}{quote}"
            raise GdsweepError(
                "function.expr",
                f"Hydra's override grammar cannot read {value} unquoted (parentheses, commas and spaces need quotes)",
                f"type it quoted, with the shell's quotes around Hydra's: \"{shown}\"",
            ) from None


def _check_functions(names: list[str], group: str = "function") -> None:
    """Each name is a config of the group (conf/function/, conf/optimizer/)."""
    from importlib.resources import files

    folder = files("gdsweep.conf").joinpath(group)
    known = sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))
    for name in names:
        if name not in known:
            raise GdsweepError(group, f"no {group} named {name!r}", f"use {group}=NAME, one of: {', '.join(known)}")


def _check_writable(folder: str) -> None:
    """Create outputs_dir (Hydra would) and write a file in it; an interpolation is left to Hydra."""
    from pathlib import Path

    from gdsweep.errors import require_writable

    if "${" in folder:
        return
    fix = "point outputs_dir at a folder you can write, e.g. outputs_dir=$HOME/gdsweep-outputs"
    require_writable(Path(folder), "outputs_dir", f"cannot write to {folder}", fix)


if __name__ == "__main__":
    main()
