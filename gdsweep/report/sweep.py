"""A sweep's report, rebuilt from MLflow alone: a table (report.csv) and figures on the parent run.

    python -m gdsweep.report PARENT_RUN_ID | SWEEP_DIR | EXPERIMENT_NAME [--tracking-uri URI]

The descent is never re-run: rows come from the runs' params, tags and metrics, curves from
their metric histories, and the function under the path plots from the logged config.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from gdsweep import tracking
from gdsweep.objectives import functions
from gdsweep.report import plots

COLUMNS = ["lr", "regime", "path", "converged", "period", "final_cost", "steps_to_tol", "rate"]
THEORY = ["critical_lr", "predicted_regime"]
GLYPHS = {"converging": "▼", "oscillating": "◆", "diverging": "▲"}
ANSI = {"converging": "\033[32m", "oscillating": "\033[33m", "diverging": "\033[31m"}
ITERATES = ("x", "x_0", "x_1")  # fetched only for the runs the path figure draws
PATH_ROWS = 2000  # iterates a path figure reads from a thinned run's table
OPTIMIZER = "optimizer.name"  # the param that names the update rule (conf/optimizer/)
EDGES = {
    "gd": "2/λmax",
    "momentum": "2(1+β)/λmax",
    "nesterov": "2(1+β)/((1+2β)λmax)",
}  # core.theory.edge_formula


@dataclass(frozen=True)
class Report:
    frame: pd.DataFrame
    folder: Path  # report.csv and the PNGs


def frame(runs: list[Any]) -> pd.DataFrame:
    """One row per run: lr and every other swept param, the labels, and the theory columns."""
    params = pd.DataFrame([run.data.params for run in runs])
    swept = [c for c in params.columns if c not in ("lr", OPTIMIZER) and params[c].nunique(dropna=False) > 1]
    rows = []
    for run in runs:
        tags, metrics, p = run.data.tags, run.data.metrics, run.data.params
        rows.append(
            {
                "lr": _number(p.get("lr")),
                "optimizer": p.get(OPTIMIZER, "gd"),  # runs from before the optimizer group were gd
                **{c: p.get(c) for c in swept},
                "regime": tags.get("regime", run.info.status.lower()),
                "path": tags.get("path"),
                "converged": tags.get("converged") == "true",
                "period": int(tags["period"]) if "period" in tags else None,
                "final_cost": metrics.get("final_cost", math.inf if tags.get("regime") == "diverging" else math.nan),
                "steps_to_tol": metrics.get("steps_to_tol"),
                "rate": metrics.get("rate"),
                "critical_lr": metrics.get("critical_lr"),
                "predicted_regime": tags.get("predicted_regime"),
                "run_id": run.info.run_id,
                "run_name": run.info.run_name,
            }
        )
    table = pd.DataFrame(rows).astype({"period": "Int64", "steps_to_tol": "Int64"})
    theory = [c for c in THEORY if table[c].notna().any()]
    order = ["lr", "optimizer", *swept, *COLUMNS[1:], *theory, "run_id", "run_name"]
    return table[order].sort_values(["optimizer", "lr", *swept], kind="stable").reset_index(drop=True)


def build(
    store: tracking.Store,
    parent_run_id: str,
    folder: Path,
    children: list[Any] | None = None,
    known: dict[str, dict] | None = None,
    function: functions.Function | None = None,
) -> Report:
    """Table and figures of one sweep, written to `folder` and logged to the parent run.

    children: the sweep's child runs when the caller has already fetched them; known: the plot
    inputs (plots.run_data) of runs whose job ran in this process, and function: their objective
    (f, f*, the minimisers), so that neither is read back from MLflow.
    """
    if children is None:
        children = tracking.child_runs(store, parent_run_id)
    runs = [r for r in children if r.info.status == "FINISHED"]
    known = known or {}
    drawn = {r.info.run_id for r in plots.spread(sorted(runs, key=lambda r: _number(r.data.params.get("lr"))))}
    missing = [r for r in runs if r.info.run_id not in known]
    with ThreadPoolExecutor(max_workers=4) as pool:  # the store's I/O overlaps; a query per series
        fetched = pool.map(lambda r: _fetch(store, r, r.info.run_id in drawn), missing)
        histories = {r.info.run_id: h for r, h in zip(missing, fetched)}
    table = frame(runs) if runs else pd.DataFrame(columns=COLUMNS)
    folder.mkdir(parents=True, exist_ok=True)
    table.to_csv(folder / "report.csv", index=False)
    plots.save(figures(store, runs, histories, table, known, function), folder)
    tracking.log_files(store, parent_run_id, folder, {}, "report")
    return Report(table, folder)


def figures(
    store: tracking.Store,
    runs: list[Any],
    histories: dict[str, dict],
    table: pd.DataFrame,
    known: dict[str, dict] | None = None,
    function: functions.Function | None = None,
) -> dict:
    """The sweep's figures by file name (None where there is nothing to draw).

    A run's curves come from `known` when its job ran in this process, else from its histories;
    f, f* and the minimisers from `function` (the jobs' objective) when given, else from the
    first run's logged config.
    """
    known = known or {}
    plotted = [known.get(r.info.run_id) or _plot_input(r, histories[r.info.run_id]) for r in runs]
    critical = table["critical_lr"].dropna().median() if "critical_lr" in table else None
    used = set(table["optimizer"]) if "optimizer" in table else {"gd"}
    edge = EDGES.get(next(iter(used)), "") if len(used) == 1 else ""  # mixed optimizers: no one edge
    critical = critical if edge else None
    if function is None and runs:  # no job ran here: rebuilt from the first run's logged config
        function = _function(store, runs[0])
    if function is not None and function.model is not None:  # a model: no surface, no f* to draw gaps to
        function = None
    surface, slope = functions.as_numpy(function) if function else (None, None)
    return {
        "cost_curves.png": plots.cost_curves(plotted, function.minimum if function else None),
        "regime_map.png": plots.regime_map(plotted, critical if critical and math.isfinite(critical) else None, edge),
        "paths.png": plots.paths(plotted, surface, slope, function.minimizers if function else ()),
        "sharpness.png": plots.sharpness(plotted),
    }


def horizon_note(runs: list[Any]) -> str | None:
    """Converging rows above 2/λmax that have not reached their theory point: the horizon, not theory.

    A run that still converges above the critical lr after N steps is usually one that has not yet
    reached the minimum whose curvature the critical lr is about; the note names the N by which
    the slowest of them gets there (metric settle_steps, extrapolated from its last steps).
    """
    late = []
    for run in runs:
        lr, metrics = _number(run.data.params.get("lr")), run.data.metrics
        critical, settle = metrics.get("critical_lr"), metrics.get("settle_steps")
        if run.data.tags.get("regime") == "converging" and critical and lr > critical and settle:
            late.append((lr, settle))
    if not late:
        return None
    steps = int(max(settle for _, settle in late))
    unit = 10 ** max(0, len(str(steps)) - 2)
    shown = ", ".join(f"{lr:g}" for lr, _ in sorted(late))
    return (
        f"Horizon: lr={shown} still converge above 2/λmax but have not reached their theory point; "
        f"N={-(-steps // unit) * unit} would settle them (then theory decides)"
    )


def render(table: pd.DataFrame, color: bool = False) -> str:
    """The terminal table: sorted by lr, each regime with its glyph (and colour on a terminal).

    A sweep that mixes optimizers is shown as one block per optimizer, each under its name.
    """
    if "optimizer" in table and table["optimizer"].nunique() > 1:
        return "\n\n".join(
            f"optimizer={name}\n{render(_own_columns(group), color)}"
            for name, group in table.groupby("optimizer", sort=False)
        )
    plain = "optimizer" in table and (table["optimizer"] == "gd").all()  # the article's update: no column
    shown = table.drop(columns=["run_id", "run_name", *(["optimizer"] if plain else [])], errors="ignore").copy()

    def mark(regime: str) -> str:
        text = f"{GLYPHS.get(regime, '✗')} {regime}"
        return f"{ANSI[regime]}{text}\033[0m" if color and regime in ANSI else text

    shown["regime"] = shown["regime"].map(mark)
    for column in ("period", "steps_to_tol"):
        if column in shown:
            shown[column] = shown[column].map(lambda v: "-" if pd.isna(v) else str(v))
    return shown.to_string(index=False, na_rep="-", float_format=lambda v: f"{v:.6g}")


def _own_columns(group: pd.DataFrame) -> pd.DataFrame:
    """One optimizer's rows without the optimizer column and the settings it does not have."""
    unused = [c for c in group.columns if c.startswith("optimizer.") and group[c].isna().all()]
    return group.drop(columns=["optimizer", *unused])
def _fetch(store: tracking.Store, run: Any, with_iterates: bool) -> dict[str, list]:
    """The histories the figures need of a run. A thinned run's iterates come from its table
    (the first PATH_ROWS steps), where the path is step by step."""
    thinned = run.data.tags.get("gdsweep.thinned") == "true"
    found = tracking.histories(store, run.info.run_id, _series(run, with_iterates and not thinned))
    if with_iterates and thinned:
        table = tracking.read_trajectory(store, run.info.run_id, ITERATES, max_rows=PATH_ROWS) or {}
        steps = table.get("step", [])
        found.update({key: list(zip(steps.tolist(), table[key].tolist())) for key in ITERATES if key in table})
    return found


def _series(run: Any, with_iterates: bool) -> list[str]:
    """The histories the figures need of a run: its cost, and its iterates if its path is drawn."""
    wanted = ("cost", "sharpness", *(ITERATES if with_iterates else ()))
    return [key for key in wanted if key in run.data.metrics]


def _plot_input(run: Any, history: dict[str, list]) -> dict:
    x = [[v] for _, v in history.get("x", [])]
    if not x and history.get("x_0"):
        x = [[a, b] for (_, a), (_, b) in zip(history["x_0"], history.get("x_1", []))]
    data = plots.run_data(
        _number(run.data.params.get("lr")),
        run.data.tags.get("regime", "failed"),
        run.data.metrics.get("rate"),
        history.get("cost", []),
        x,
    )
    return {**data, "sharpness": history.get("sharpness", [])}


def _function(store: tracking.Store, run: Any) -> functions.Function | None:
    """The function, rebuilt from the run's logged config (not re-run): f for the path plots, f* for the gaps."""
    try:
        with tempfile.TemporaryDirectory() as scratch:
            texts = tracking.read_artifacts(store, run.info.run_id, "hydra", ["config.resolved.yaml"], scratch)
        config = yaml.safe_load(texts["config.resolved.yaml"])
        if config["x0"] is None:  # a model: no surface to draw a path on, no f* to measure gaps from
            return None
        x0 = config["x0"] if isinstance(config["x0"], list) else [config["x0"]]
        return functions.build(config["function"], len(x0))
    except Exception:  # noqa: BLE001  (no config artifact, or a function this version lacks: no path plot)
        return None


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def resolve(
    target: str, tracking_uri: str | None, outputs_dir: str = "outputs", out: str | None = None
) -> tuple[tracking.Store, str, Path]:
    """A parent run id, a sweep folder or an experiment name (its latest sweep) -> store, parent, folder.

    A sweep folder the user names keeps its report in it; a report rebuilt from the store goes
    to `out` or under this machine's outputs_dir/reports/PARENT_RUN_ID, never to a folder a
    tag of the store names (gdsweep.sweep_dir is whatever whoever logged the run wrote there).
    """
    folder = Path(target)
    if (folder / tracking.SWEEP_FILE).is_file():
        sweep = tracking.Sweep.load(folder)
        return sweep.store, sweep.parent_run_id, Path(out) if out else folder / "report"
    uri = tracking.resolve_uri(tracking_uri, outputs_dir)
    if re.fullmatch(r"[0-9a-f]{32}", target):
        run = tracking.get_run(uri, target)
        store = tracking.Store(uri, run.info.experiment_id)
    else:
        store, run = tracking.latest_sweep(uri, target)
    parent = run.info.run_id
    if not re.fullmatch(r"[0-9a-f]{32}", parent):  # a name for a folder: only what an MLflow run id can be
        raise LookupError(f"the store answered with a run id that is not one: {parent[:80]!r}")
    return store, parent, Path(out) if out else Path(outputs_dir) / "reports" / parent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gdsweep.report", description=__doc__.splitlines()[0])
    parser.add_argument(
        "target", help="a sweep's parent run id, its sweep folder, or an experiment name (latest sweep)"
    )
    parser.add_argument("--tracking-uri", help="default: $MLFLOW_TRACKING_URI, else sqlite:///outputs/mlflow.db")
    parser.add_argument("--out", help="folder for report.csv and the figures (default: outputs/reports/PARENT_RUN_ID)")
    args = parser.parse_args(argv)
    try:
        store, parent, folder = resolve(args.target, args.tracking_uri, out=args.out)
    except LookupError as err:
        sys.exit(f"gdsweep.report: error: {err}")
    report = build(store, parent, folder)
    print(render(report.frame, color=sys.stdout.isatty()))
    print(f"Report of sweep {parent}: {report.folder}")


if __name__ == "__main__":
    main()
