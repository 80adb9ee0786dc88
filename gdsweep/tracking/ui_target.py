"""What `python -m gdsweep.ui` opens: a sweep (its parent run and child runs) or a plain run, found in a store.

A target is a sweep folder, a run id (a sweep's parent, one of its children, or a plain run) or an
experiment name (its latest sweep); nothing means the latest sweep in the whole store.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from gdsweep.tracking import links, server
from gdsweep.tracking.links import PARENT_TAG
from gdsweep.tracking.store import SWEEP_FILE, Store, Sweep, _require_store, _retry, child_runs, get_run, latest_sweep

RUN_ID = re.compile(r"[0-9a-f]{32}")
THINNED = "gdsweep.thinned"  # tag: "true" when the run's histories keep only a spread of its steps


@dataclass(frozen=True)
class Target:
    uri: str
    experiment_id: str
    name: str  # the sweep's or the run's name
    parent_run_id: str | None  # the sweep's parent run; None for a plain run
    run_ids: tuple[str, ...]  # the runs compared: the sweep's children sorted by lr, or the plain run
    view: str | None = None  # the key of the sweep's shared view, once saved (save_view)
    metrics: tuple[tuple[str, bool], ...] = ()  # the children's metrics: (key, has a per-step history)
    log_cost: bool = False  # every child's last cost is > 0: its chart can have a log scale
    thinned: tuple[str, ...] = ()  # runs whose histories keep tracking.max_points points; every step is in their table


def find(target: str | None, uri: str) -> Target:
    """The sweep or run that `target` names in the store at `uri`; LookupError saying what is missing."""
    if target is not None and (Path(target) / SWEEP_FILE).is_file():
        sweep = Sweep.load(Path(target))
        _require_reachable(sweep.store.uri)
        return _sweep(sweep.store.uri, sweep.store.experiment_id, sweep.parent_run_id)
    if target is not None and ("/" in target or Path(target).is_dir()):
        raise LookupError(f"{target} is not a sweep folder (it has no {SWEEP_FILE})")
    _require_reachable(uri)
    if target is None:
        run = _latest_sweep_anywhere(uri)
    elif RUN_ID.fullmatch(target):
        run = get_run(uri, target)
        parent = run.data.tags.get(PARENT_TAG)
        if parent:  # one job of a sweep: the comparison is its sweep's
            run = get_run(uri, parent)
    else:
        run = latest_sweep(uri, target)[1]
    if run.data.tags.get("gdsweep.role") == "sweep":
        return _sweep(uri, run.info.experiment_id, run.info.run_id)
    thinned = (run.info.run_id,) if run.data.tags.get(THINNED) == "true" else ()
    return Target(uri, run.info.experiment_id, run.info.run_name, None, (run.info.run_id,), thinned=thinned)


def _require_reachable(uri: str) -> None:
    """A tracking server that answers, or an SQLite file that exists (reading one would create it)."""
    if uri.startswith(("http://", "https://")):
        server.require(uri)
    _require_store(uri)


def _sweep(uri: str, experiment_id: str, parent_run_id: str) -> Target:
    store = Store(uri, experiment_id)
    parent = get_run(uri, parent_run_id)
    children = sorted(child_runs(store, parent_run_id), key=lambda run: _lr(run.data.params.get("lr")))
    steps: dict[str, int] = {}  # a metric's last step: > 0 for a per-step series, 0 for a summary
    for run in children:
        for metric in getattr(run.data, "_metric_objs", []):  # RunData keeps the Metric objects, steps and all
            steps[metric.key] = max(steps.get(metric.key, 0), metric.step)
    metrics = tuple(sorted((key, step > 0) for key, step in steps.items()))
    ids = tuple(r.info.run_id for r in children)
    costs = [run.data.metrics["cost"] for run in children if "cost" in run.data.metrics]
    log_cost = bool(costs) and min(costs) > 0  # costs fall in descent: a negative one would show last
    thinned = tuple(r.info.run_id for r in children if r.data.tags.get(THINNED) == "true")
    return Target(
        uri, experiment_id, parent.info.run_name, parent_run_id, ids, metrics=metrics, log_cost=log_cost, thinned=thinned
    )


def _latest_sweep_anywhere(uri: str):
    """The most recent sweep parent run over every experiment of the store."""
    client = MlflowClient(tracking_uri=uri)
    experiments = [e.experiment_id for e in _retry(client.search_experiments, max_results=1000)]
    runs = (
        _retry(
            client.search_runs,
            experiments,
            "tags.`gdsweep.role` = 'sweep'",
            max_results=1,
            order_by=["attributes.start_time DESC"],
        )
        if experiments
        else []
    )
    if not runs:
        raise LookupError(f"no sweep in {uri} yet; run one: python -m gdsweep lr=0.01,0.1,1.0 --multirun")
    return runs[0]


def _lr(value: str | None) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.inf
    return number if math.isfinite(number) else math.inf


def save_view(target: Target) -> Target:
    """Save a sweep's shared view (every child drawn in the charts) as an experiment tag; the target with its key.

    The tag is what MLflow's own Share button writes, one per sweep, rewritten with the same value
    each time. A plain run needs none; a store that refuses the write (a read-only user) gets none.
    """
    if target.parent_run_id is None:
        return target
    key, state = links.sweep_view(target.parent_run_id, target.metrics, target.log_cost)
    client = MlflowClient(tracking_uri=target.uri)
    try:
        _retry(client.set_experiment_tag, target.experiment_id, links.VIEW_TAG + key, state)
    except MlflowException:
        return target
    return replace(target, view=key)
