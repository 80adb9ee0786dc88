"""Everything gdsweep says to MLflow: the store, runs and their contents, the sweep hand-off file,
the tracking-server probe and the provenance tags. The only subpackage that imports `mlflow`.

May import: `gdsweep.core`, `gdsweep.objectives`, `gdsweep.errors`, MLflow, torch. Not report,
jobs or the app (checked by import-linter). `from gdsweep import tracking` gives the store's API.
"""

from gdsweep.tracking.artifacts import read_artifacts
from gdsweep.tracking.store import (
    SWEEP_FILE,
    Store,
    Sweep,
    child_runs,
    embedded_uri,
    end_run,
    fail_run,
    get_run,
    histories,
    latest_sweep,
    log_file,
    log_files,
    log_run,
    open_store,
    resolve_uri,
    start_run,
    tracked_run,
    ui_command,
)
from gdsweep.tracking.stream import SeriesStream, streamed
from gdsweep.tracking.table_writer import read_trajectory, same_trajectory

__all__ = [
    "SWEEP_FILE",
    "SeriesStream",
    "Store",
    "Sweep",
    "child_runs",
    "embedded_uri",
    "end_run",
    "fail_run",
    "get_run",
    "histories",
    "latest_sweep",
    "log_file",
    "log_files",
    "log_run",
    "open_store",
    "read_artifacts",
    "read_trajectory",
    "resolve_uri",
    "same_trajectory",
    "start_run",
    "streamed",
    "tracked_run",
    "ui_command",
]
