"""What the jobs of this process returned, for the sweep's report: no need to read it back from MLflow.

With Hydra's basic launcher the jobs of a --multirun run in the launching process, one after
the other; each finished job leaves what its figures need (its sampled cost and iterates, and
f as numpy functions) here, by run id, and the sweep callback hands it to the report. Jobs that
ran in other processes (joblib, submitit, Slurm) leave nothing here, and the report reads those
from MLflow. Standard library only, so the callback can look without importing torch.
"""

from __future__ import annotations

from typing import Any

plotted: dict[str, dict] = {}  # run id -> plots.run_data of the run
surfaces: dict[str, tuple[Any, Any]] = {}  # run id -> (f, f') as numpy functions


def take(run_ids: list[str]) -> tuple[dict[str, dict], tuple[Any, Any] | None]:
    """The plot inputs of these runs that ran here (removed from the registry) and one run's surface."""
    found = {run_id: plotted.pop(run_id) for run_id in run_ids if run_id in plotted}
    surface = next((surfaces[run_id] for run_id in run_ids if run_id in surfaces), None)
    for run_id in run_ids:
        surfaces.pop(run_id, None)
    return found, surface
