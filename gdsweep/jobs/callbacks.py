"""The Hydra callback that gives a --multirun one MLflow parent run.

It runs in the launching process: the store's schema and the parent run are created there,
once, before any job starts (several jobs creating an SQLite schema at once corrupt it), and
the sweep's table is printed there after the last job. MLflow is imported only when a sweep
starts, so single runs and `--help` do not pay for it here.
"""

from __future__ import annotations

import atexit
import math
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


class SweepTracking(Callback):
    """Opens the sweep's parent run before the jobs and closes it, with a table, after them."""

    def __init__(self) -> None:
        self._sweep = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        import torch  # noqa: F401  (the jobs need it; imported before MLflow it loads 0.1-0.3 s faster)

        from gdsweep import lifecycle, tracking
        from gdsweep.errors import GdsweepError
        from gdsweep.jobs import task  # noqa: F401  (what every job imports, and the report the sweep ends
        from gdsweep.report import sweep  # noqa: F401  with: loaded with the collector off, then frozen)

        lifecycle.settle()

        uri = tracking.resolve_uri(config.tracking.uri, config.outputs_dir)
        try:
            store = tracking.open_store(uri, config.tracking.experiment, config.outputs_dir)
        except GdsweepError as err:  # before any job: one line, as for a single run
            err.exit()
        sweep_dir = Path(config.hydra.sweep.dir)
        overrides = " ".join(config.hydra.overrides.task)
        tags = {"gdsweep.role": "sweep", "gdsweep.sweep_dir": str(sweep_dir.resolve()), "gdsweep.overrides": overrides}
        self._sweep = tracking.Sweep(store, tracking.start_run(store, f"sweep {overrides}".strip(), tags))
        self._sweep.save(sweep_dir)
        atexit.register(self._end_if_abandoned)
        print(f"Sweep: MLflow parent run {self._sweep.parent_run_id} in {sweep_dir}", flush=True)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from gdsweep import tracking
        from gdsweep.jobs import returned
        from gdsweep.report import sweep as report
        from gdsweep.tracking import links

        sweep, self._sweep = self._sweep, None
        if sweep is None:
            return
        runs = tracking.child_runs(sweep.store, sweep.parent_run_id)
        failed = [run for run in runs if run.info.status != "FINISHED"]
        scans = any(run.data.tags.get("gdsweep.role") == "scan" for run in runs)
        built, broken = None, None  # a sweep of scans has no per-lr report: each scan run carries its own
        try:
            _color_runs(sweep.store, runs)
            if not scans and len(failed) < len(runs):  # no finished run, nothing to report
                known, objective = returned.take([run.info.run_id for run in runs])  # jobs that ran in this process
                folder = Path(config.hydra.sweep.dir) / "report"
                built = report.build(sweep.store, sweep.parent_run_id, folder, runs, known, objective)
        except Exception as error:  # noqa: BLE001  (Hydra would make it a warning and the sweep exit 0)
            broken = f"the sweep's report failed: {type(error).__name__}: {error}"
            tracking.fail_run(sweep.store, sweep.parent_run_id, RuntimeError(broken))
        finally:
            if broken is None:
                tracking.end_run(sweep.store, sweep.parent_run_id, "FAILED" if failed else "FINISHED")
        if built:
            print(report.render(built.frame, color=sys.stdout.isatty()))
            note = report.horizon_note(runs)
            if note:
                print(note)
        for run in failed:
            print(f"{run.info.run_name}: {run.info.status.lower()}: {run.data.tags.get('error', '')}")
        if built:
            print(f"Report: {built.folder} (also on the parent run in MLflow)")
        print(f"MLflow parent run {sweep.parent_run_id}; to browse:")
        sweep_dir = str(Path(config.hydra.sweep.dir).resolve())
        print(links.ui_hint(sweep.store.uri, sweep_dir, tracking.ui_command(sweep.store.uri)), flush=True)
        if broken:
            print(f"gdsweep: error: {broken}", file=sys.stderr)
        if failed:
            print(f"gdsweep: error: {len(failed)} of {len(runs)} jobs failed (see the lines above)", file=sys.stderr)
        if failed or broken:
            sys.exit(1)

    def _end_if_abandoned(self) -> None:
        """The sweep stopped before on_multirun_end: KILLED after Ctrl-C or SIGTERM, else FAILED."""
        if self._sweep is not None:
            from gdsweep import tracking
            from gdsweep.jobs import signals

            status = "KILLED" if signals.received else "FAILED"
            tracking.end_run(self._sweep.store, self._sweep.parent_run_id, status)


def _color_runs(store, runs: list) -> None:
    """Tag each child run with its colour in MLflow's charts (`mlflow.runColor`): its regime's, shaded by lr
    among the sweep's runs of that regime, as in the report. Scans (many lrs in one run) keep MLflow's."""
    from gdsweep import tracking
    from gdsweep.report import palette
    from gdsweep.tracking import links

    coloured = [run for run in runs if run.data.tags.get("gdsweep.role") != "scan"]
    wanted = palette.colors((run.info.run_id, run.data.tags.get("regime"), _lr(run)) for run in coloured)
    for run in coloured:
        if run.data.tags.get(links.COLOR_TAG) != wanted[run.info.run_id]:
            tracking.log_run(store, run.info.run_id, tags={links.COLOR_TAG: wanted[run.info.run_id]})


def _lr(run) -> float:
    try:
        return float(run.data.params.get("lr"))
    except (TypeError, ValueError):
        return math.nan
