"""Addresses in MLflow's own UI (3.x) that open a sweep's comparison with no clicks, and the commands to get there.

No MLflow import: strings only. What the UI reads from its URL (measured with MLflow 3.17 in
headless Chromium):

- `#/experiments/ID/runs?workflowType=machine_learning` opens the Model-training side (an
  experiment otherwise opens on the GenAI overview); `compareRunsMode=CHART` the chart view.
- `searchFilter=...` is the runs search box. Child runs show collapsed under their parent unless
  the list is filtered *and* sorted by something other than the start time: then every matching run
  is its own row, so the filter `tags.mlflow.parentRunId = '<parent>'` with `orderByKey=params.lr`
  lists a sweep's children, sorted by lr, with nothing to expand.
- Only the first 10 runs of the list are drawn in the charts, unless the view state says
  `runsHiddenMode: SHOW_ALL`, which no URL parameter sets. A *shared view* does: the experiment tag
  `mlflow.sharedViewState.<key>` holds a view state as JSON (what MLflow's own Share button
  writes), and `?viewStateShareKey=<key>` opens it, filter, sort and all (the URL must then carry
  no filter or sort of its own).
- `#/compare-runs?runs=[ids]&experiments=[ids]` (JSON lists) is the compare page.
- The run tag `mlflow.runColor` ("#rrggbb") is a run's colour in every chart and table.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote, urlencode

COLOR_TAG = "mlflow.runColor"
PARENT_TAG = "mlflow.parentRunId"
VIEW_TAG = "mlflow.sharedViewState."  # + key: an experiment tag holding a view state (JSON)
VIEW_LIMIT = 20000  # MLflow's longest experiment tag value; a longer view leaves the charts to MLflow
COMPARE_LIMIT = 100  # runs on the compare page: past that its tables stop being readable
SORTED_BY_LR = {"orderByKey": "params.`lr`", "orderByAsc": "true"}


def runs_url(base: str, experiment_id: str, search_filter: str) -> str:
    """The experiment's runs in the chart view, Model-training side, filtered, sorted by lr, no nesting."""
    return _runs_page(base, experiment_id, {"searchFilter": search_filter, **SORTED_BY_LR})


def sweep_filter(parent_run_id: str) -> str:
    return f"tags.{PARENT_TAG} = '{parent_run_id}'"


def sweep_url(base: str, experiment_id: str, parent_run_id: str) -> str:
    """A sweep's child runs, every one a row; the charts draw the first 10 (see sweep_view for all)."""
    return runs_url(base, experiment_id, sweep_filter(parent_run_id))


def sweep_view(parent_run_id: str, metrics: Sequence[tuple[str, bool]] = (), log_cost: bool = False) -> tuple[str, str]:
    """(key, experiment tag value) of a shared view of a sweep: its children sorted by lr, all drawn.

    metrics: (key, has a per-step history) of the children's metrics. Given, the view carries its
    own charts, as MLflow would make them (a line chart per series, a bar chart per summary
    metric), except that `cost` comes first, on a log scale when log_cost (every cost positive):
    the regimes are straight lines there.
    """
    state = {"searchFilter": sweep_filter(parent_run_id), "orderByKey": "params.`lr`", "orderByAsc": True}
    state["runsHiddenMode"] = "SHOW_ALL"
    charted = {**state}
    if metrics:  # at most 30 charts, as MLflow makes
        ordered = sorted(metrics, key=lambda metric: (metric[0] != "cost", metric[0]))[:30]
        charted["compareRunCharts"] = [_chart(key, series, log_cost and key == "cost") for key, series in ordered]
        charted["compareRunSections"] = [{**SECTION, "uuid": MODEL_SECTION, "name": "Model metrics"}]
        charted["compareRunSections"].append({**SECTION, "uuid": "gdsweep-system", "name": "System metrics"})
    value = json.dumps(charted)
    return f"gdsweep-{parent_run_id}", value if len(value) <= VIEW_LIMIT else json.dumps(state)


MODEL_SECTION = "gdsweep-model"
SECTION = {"display": True, "isReordered": False, "deleted": False, "isGenerated": True}


def _chart(key: str, series: bool, log: bool) -> dict:
    """One chart card of MLflow's chart view, in the shape its UI stores (MLflow 3.17)."""
    card = {"uuid": f"gdsweep-{key}", "runsCountToCompare": 10, "metricSectionId": MODEL_SECTION, "deleted": False}
    card |= {"isGenerated": True, "displayName": key, "metricKey": key}
    if not series:
        return {**card, "type": "BAR"}
    return {
        **card,
        "type": "LINE",
        "lineSmoothness": 0,
        "xAxisScaleType": "linear",
        "scaleType": "log" if log else "linear",
        "range": {},
        "xAxisKey": "step",
        "selectedXAxisMetricKey": "",
        "yAxisKey": "metric",
        "yAxisExpressions": [],
        "ignoreOutliers": False,
        "useGlobalXaxisKey": True,
        "useGlobalLineSmoothing": True,
    }


def shared_view_url(base: str, experiment_id: str, key: str) -> str:
    """The chart view of a shared view saved as the experiment tag VIEW_TAG + key."""
    return _runs_page(base, experiment_id, {"viewStateShareKey": key})


def _runs_page(base: str, experiment_id: str, query: dict[str, str]) -> str:
    query = {**query, "workflowType": "machine_learning", "compareRunsMode": "CHART"}
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs?{urlencode(query, quote_via=quote)}"


def run_url(base: str, experiment_id: str, run_id: str) -> str:
    """One plain run in the chart view."""
    return runs_url(base, experiment_id, f"attributes.run_id = '{run_id}'")


def artifact_url(base: str, experiment_id: str, run_id: str, path: str) -> str:
    """A run's artifact in MLflow's run page (its Artifacts tab, the file selected)."""
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}/artifacts/{path}"


def compare_url(base: str, run_ids: Sequence[str], experiment_ids: Sequence[str]) -> str:
    """MLflow's compare page (parameter diff, parallel coordinates) for these runs."""
    query = {
        "runs": json.dumps(list(run_ids), separators=(",", ":")),
        "experiments": json.dumps(sorted(set(experiment_ids)), separators=(",", ":")),
    }
    return f"{base.rstrip('/')}/#/compare-runs?{urlencode(query, quote_via=quote)}"


def ui_hint(uri: str, target: str, mlflow_command: str) -> str:
    """The two lines printed at the end of a run or sweep: gdsweep's UI command, then MLflow's own.

    target: the sweep folder or the run id; `--tracking-uri` is added where the UI would not find
    the store by itself.
    """
    command = ["python", "-m", "gdsweep.ui", _shorter(target)]
    if uri != default_uri() and not Path(target).is_dir():  # a sweep folder names its own store
        command += ["--tracking-uri", shown_uri(uri)]
    return f"  compare in the MLflow UI: {shlex.join(command)}\n  or plain MLflow:          {mlflow_command}"


def default_uri() -> str:
    """The store `python -m gdsweep.ui` uses when told nothing: $MLFLOW_TRACKING_URI, else ./outputs/mlflow.db."""
    from gdsweep.tracking.store import resolve_uri  # MLflow is loaded by whoever prints a hint anyway

    return resolve_uri(None, "outputs")


def shown_uri(uri: str) -> str:
    """An SQLite store inside the working directory by its relative path, as `mlflow ui` is printed."""
    path = Path(uri.removeprefix("sqlite:///"))
    if uri.startswith("sqlite:///") and path.is_relative_to(Path.cwd()):
        return f"sqlite:///{path.relative_to(Path.cwd())}"
    return uri


def _shorter(target: str) -> str:
    """A folder inside the working directory as a relative path; anything else as it is."""
    path = Path(target)
    if path.is_absolute() and path.is_relative_to(Path.cwd()):
        return str(path.relative_to(Path.cwd()))
    return target
