"""The Hydra task: one job is a plain run or a scan; this is where the two meet.

`gdsweep.app` calls `run_job` inside @hydra.main; the runner and the scan job never import each
other (the scan job builds on the runner's `Job`).
"""

from __future__ import annotations

from pathlib import Path

import torch  # noqa: F401  (first: imported after MLflow, torch's import takes 0.1-0.3 s longer, measured)
from omegaconf import DictConfig

from gdsweep import lifecycle, tracking
from gdsweep.jobs.runner import execute
from gdsweep.report.table import format_table
from gdsweep.tracking import links


def run_job(cfg: DictConfig) -> None:
    """The Hydra task: run this job, inside the sweep when launched by --multirun."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    lifecycle.settle()  # torch and MLflow are loaded: the collector can run again
    hydra = HydraConfig.get()
    multirun = hydra.mode == RunMode.MULTIRUN
    sweep = tracking.Sweep.load(Path(hydra.sweep.dir)) if multirun else None
    hydra_dir = Path(hydra.runtime.output_dir) / hydra.output_subdir if hydra.output_subdir else None
    if cfg.get("scan") is not None:
        from gdsweep.jobs.scan_job import execute_scan  # torch-heavy scan code only for scans

        scanned = execute_scan(cfg, list(hydra.overrides.task), hydra_dir, sweep)
        print("\n".join(scanned.lines))
        if scanned.folder is not None:
            print(f"Scan table and figures: {scanned.folder} (also on the MLflow run under scan/)")
        print(f"MLflow run {scanned.run_id}; to browse:\n{_hint(scanned.uri, scanned.run_id)}", flush=True)
        return
    outcome = execute(cfg, list(hydra.overrides.task), hydra_dir, sweep)
    if multirun:
        detail = f" ({outcome.row.detail})" if outcome.row.detail else ""
        print(f"[job {hydra.job.num}] lr={outcome.row.lr:g}: {outcome.row.regime}{detail}", flush=True)
    else:
        print(format_table([outcome.row]))
        print(f"MLflow run {outcome.run_id}; to browse:\n{_hint(outcome.uri, outcome.run_id)}")


def _hint(uri: str, run_id: str) -> str:
    """`python -m gdsweep.ui RUN_ID` and the plain `mlflow ui` command, one a line."""
    return links.ui_hint(uri, run_id, tracking.ui_command(uri))
