"""Everything gdsweep says to MLflow goes through this module.

Layout: one experiment per study; a single run is a plain run; a --multirun is one parent run
(created by the launching process) with one nested child run per job. Per-step series go in
with MLflow's batch API, at most 1000 entities a call, never one call per step. SQLite writers
retry while another process holds the lock.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

from mlflow.entities import Metric, Param, Run, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from gdsweep.tracking import orphans, server, settings, wal

EMBEDDED_DB = "mlflow.db"
SWEEP_FILE = "mlflow_sweep.json"  # in the sweep dir: how jobs find the store and their parent run
PARENT_TAG = "mlflow.parentRunId"
BATCH_LIMIT = 1000  # MLflow's cap on metrics + params + tags in one log_batch call
PARAMS_LIMIT = TAGS_LIMIT = 100
LOCK_RETRIES = 12
NAME_LIMIT = 250  # a run name's column in MLflow's SQL stores; PostgreSQL and MySQL refuse longer ones


@dataclass(frozen=True)
class Store:
    """A tracking store and the experiment the runs go to."""

    uri: str
    experiment_id: str

    @cached_property
    def client(self) -> MlflowClient:
        return MlflowClient(tracking_uri=self.uri)


def resolve_uri(configured: str | None, outputs_dir: str | os.PathLike) -> str:
    """tracking.uri if set, else $MLFLOW_TRACKING_URI, else the embedded SQLite store."""
    if configured:
        return configured
    return os.environ.get("MLFLOW_TRACKING_URI") or embedded_uri(outputs_dir)


def embedded_uri(outputs_dir: str | os.PathLike) -> str:
    return f"sqlite:///{Path(outputs_dir).resolve() / EMBEDDED_DB}"


def ui_command(uri: str) -> str:
    """The command (or address) that opens this store in the MLflow UI."""
    if uri.startswith(("http://", "https://")):
        return f"open {uri} in a browser (the tracking server is already running)"
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        if path.is_relative_to(Path.cwd()):
            uri = f"sqlite:///{path.relative_to(Path.cwd())}"
    return f"mlflow ui --backend-store-uri {uri}"


def open_store(uri: str, experiment: str, outputs_dir: str | os.PathLike) -> Store:
    """Connect, creating the database schema and the experiment if they do not exist yet.

    Call this once in the launching process: several processes creating an SQLite schema at
    once corrupt it. Runs of this host left RUNNING by a dead process are ended KILLED here. A new SQLite store is switched to write-ahead logging, which halves the
    cost of a commit and lets parallel jobs read while one writes. In the embedded store the
    experiment's artifacts go under outputs_dir.
    """
    settings.check_experiment(experiment)
    settings.check_uri(uri)
    if uri.startswith(("http://", "https://")):
        server.require(uri)
    if uri == embedded_uri(outputs_dir):
        Path(outputs_dir).mkdir(parents=True, exist_ok=True)
    database = Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None
    new_database = database is not None and not database.exists()
    with _quiet("mlflow.store.db.utils"):  # "Creating initial MLflow database tables...": not news to a user
        client = MlflowClient(tracking_uri=uri)
        _retry(client.search_experiments, max_results=1)  # creates the schema of a new database
    if database is not None:
        wal.opened(database, new_database)
    orphans.reap(client, _retry)  # runs of this host left RUNNING by a process that is gone
    found = _retry(client.get_experiment_by_name, experiment)
    if found is None:
        location = None
        if uri == embedded_uri(outputs_dir):
            location = (Path(outputs_dir).resolve() / "artifacts" / experiment).as_uri()
        try:
            settings.check_artifact_location(location, experiment)
            return Store(uri, _retry(client.create_experiment, experiment, artifact_location=location))
        except MlflowException:  # another process created it first
            found = _retry(client.get_experiment_by_name, experiment)
            if found is None:
                raise
    settings.check_artifact_location(found.artifact_location, experiment)
    return Store(uri, found.experiment_id)


def start_run(store: Store, name: str, tags: Mapping[str, str], parent_run_id: str | None = None) -> str:
    """Create a RUNNING run (nested under parent_run_id when given) and return its id.

    A name over 250 characters (a sweep of 64 lrs) is cut, ending in "…"; gdsweep.overrides keeps them all."""
    name = name if len(name) <= NAME_LIMIT else name[: NAME_LIMIT - 1] + "…"
    tags = {**orphans.process_tags(), **tags, "mlflow.runName": name}
    if parent_run_id:
        tags[PARENT_TAG] = parent_run_id
    return _retry(store.client.create_run, store.experiment_id, run_name=name, tags=tags).info.run_id


def end_run(store: Store, run_id: str, status: str = "FINISHED") -> None:
    _retry(store.client.set_terminated, run_id, status)


@contextmanager
def tracked_run(store: Store, name: str, tags: Mapping[str, str], parent_run_id: str | None = None) -> Iterator[str]:
    """A run that always ends: FINISHED, FAILED (error tagged) on an exception, KILLED on Ctrl-C."""
    run_id = start_run(store, name, tags, parent_run_id)
    try:
        yield run_id
    except KeyboardInterrupt as stop:
        fail_run(store, run_id, stop, "KILLED")
        raise
    except BaseException as err:
        fail_run(store, run_id, err)
        raise
    end_run(store, run_id)


def fail_run(store: Store, run_id: str, error: BaseException, status: str = "FAILED") -> None:
    """End a run FAILED (or KILLED), with the error's one-line message as tag `error`."""
    _retry(store.client.set_tag, run_id, "error", str(error)[:5000] or type(error).__name__)
    end_run(store, run_id, status)


def log_run(
    store: Store,
    run_id: str,
    params: Mapping[str, object] = {},
    tags: Mapping[str, str] = {},
    metrics: Mapping[str, float] = {},
    series: Mapping[str, Sequence[float] | Mapping[int, float]] = {},
    first_step: int = 0,
) -> None:
    """Log params, tags, summary metrics and per-step series in few batch calls.

    A series is a sequence (step = first_step + index) or a mapping step -> value. Non-finite
    values are left out: a diverging run keeps its finite steps.
    """
    stamp = int(time.time() * 1000)
    points = [Metric(key, value, stamp, 0) for key, value in metrics.items() if math.isfinite(value)]
    for key, values in series.items():
        steps = values.items() if isinstance(values, Mapping) else enumerate(values, first_step)
        points += [Metric(key, value, stamp, step) for step, value in steps if math.isfinite(value)]
    param_list = [Param(key, str(value)) for key, value in params.items()]
    tag_list = [RunTag(key, str(value)) for key, value in tags.items()]
    client = store.client
    while param_list or tag_list or points:
        batch_params, param_list = param_list[:PARAMS_LIMIT], param_list[PARAMS_LIMIT:]
        batch_tags, tag_list = tag_list[:TAGS_LIMIT], tag_list[TAGS_LIMIT:]
        room = BATCH_LIMIT - len(batch_params) - len(batch_tags)
        batch_points, points = points[:room], points[room:]
        _retry(client.log_batch, run_id, metrics=batch_points, params=batch_params, tags=batch_tags)


def log_files(store: Store, run_id: str, directory: Path | None, texts: Mapping[str, str], artifact_path: str) -> None:
    """Log a folder's files plus small texts (name -> content) under one artifact path, in one call.

    The texts are written into the folder (or a temporary one when directory is None).
    """
    with tempfile.TemporaryDirectory() as scratch:
        folder = directory if directory is not None else Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in texts.items():
            (folder / name).write_text(text)
        _retry(store.client.log_artifacts, run_id, str(folder), artifact_path)


def log_file(store: Store, run_id: str, path: Path, artifact_path: str) -> None:
    """Log one local file under an artifact path."""
    _retry(store.client.log_artifact, run_id, str(path), artifact_path)


def child_runs(store: Store, parent_run_id: str) -> list[Run]:
    """Every run nested under a parent, whatever its status."""
    query = f"tags.`{PARENT_TAG}` = '{parent_run_id}'"
    runs, token = [], None
    while True:
        page = _retry(store.client.search_runs, [store.experiment_id], query, max_results=1000, page_token=token)
        runs += list(page)
        token = page.token
        if not token:
            return runs


def histories(store: Store, run_id: str, keys: Sequence[str]) -> dict[str, list[tuple[int, float]]]:
    """The (step, value) history of each metric key the run has, sorted by step."""
    found = {}
    for key in keys:
        points = _retry(store.client.get_metric_history, run_id, key)
        if points:
            found[key] = sorted((p.step, p.value) for p in points)
    return found


def get_run(uri: str, run_id: str) -> Run:
    """The run, or LookupError naming what is missing (an SQLite store is not created by looking)."""
    _require_store(uri)
    try:
        return _retry(MlflowClient(tracking_uri=uri).get_run, run_id)
    except MlflowException:
        raise LookupError(f"no run {run_id} in {uri}") from None


def latest_sweep(uri: str, experiment: str) -> tuple[Store, Run]:
    """The most recent sweep's parent run in an experiment."""
    _require_store(uri)
    client = MlflowClient(tracking_uri=uri)
    found = _retry(client.get_experiment_by_name, experiment)
    if found is None:
        raise LookupError(f"no experiment {experiment!r} in {uri}")
    runs = _retry(
        client.search_runs,
        [found.experiment_id],
        "tags.`gdsweep.role` = 'sweep'",
        max_results=1,
        order_by=["attributes.start_time DESC"],
    )
    if not runs:
        raise LookupError(f"no sweep in experiment {experiment!r}")
    return Store(uri, found.experiment_id), runs[0]


@dataclass(frozen=True)
class Sweep:
    """What the launching process hands to the jobs of a --multirun, via a file in the sweep dir."""

    store: Store
    parent_run_id: str

    def save(self, sweep_dir: Path) -> None:
        sweep_dir.mkdir(parents=True, exist_ok=True)
        data = {**asdict(self.store), "parent_run_id": self.parent_run_id}
        (sweep_dir / SWEEP_FILE).write_text(json.dumps(data, indent=2))

    @staticmethod
    def load(sweep_dir: Path) -> Sweep | None:
        path = sweep_dir / SWEEP_FILE
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        return Sweep(Store(data["uri"], data["experiment_id"]), data["parent_run_id"])


def _require_store(uri: str) -> None:
    """Reading from an SQLite file that is not there would create it: say it is missing instead."""
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        raise LookupError(f"no MLflow store at {uri.removeprefix('sqlite:///')}")


@contextmanager
def _quiet(logger: str) -> Iterator[None]:
    """Hold a logger to warnings and errors for the duration."""
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(level)


def _retry(call, *args, **kwargs):
    """Call an MLflow client method, waiting out SQLite's `database is locked`."""
    for attempt in range(LOCK_RETRIES):
        try:
            return call(*args, **kwargs)
        except Exception as err:  # MlflowException or the SQLAlchemy error it did not wrap
            if "database is locked" not in str(err) or attempt == LOCK_RETRIES - 1:
                raise
            time.sleep(min(2.0, 0.02 * 2**attempt))
