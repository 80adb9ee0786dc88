"""What the jobs of this process returned, for the sweep's report: no need to read it back from MLflow.

With Hydra's basic launcher the jobs of a --multirun run in the launching process, one after
the other; each finished job leaves what its figures need (its sampled cost and iterates, and
its objective, with f* and the minimisers) here, by run id, and the sweep callback hands it to the report. Jobs that
ran in other processes (joblib, submitit, Slurm) leave nothing here, and the report reads those
from MLflow. Standard library only, so the callback can look without importing torch.
"""

from __future__ import annotations

from typing import Any

plotted: dict[str, dict] = {}  # run id -> plots.run_data of the run
objectives: dict[str, Any] = {}  # run id -> the job's objectives.functions.Function


def take(run_ids: list[str]) -> tuple[dict[str, dict], Any]:
    """The plot inputs of these runs that ran here (removed from the registry) and one run's objective."""
    found = {run_id: plotted.pop(run_id) for run_id in run_ids if run_id in plotted}
    objective = next((objectives[run_id] for run_id in run_ids if run_id in objectives), None)
    for run_id in run_ids:
        objectives.pop(run_id, None)
    return found, objective
