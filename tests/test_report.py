"""The sweep report: a table and figures built from MLflow alone, and the command that rebuilds them."""

import math
import subprocess
import sys

import matplotlib.image
import pandas as pd
import pytest
import torch

from gdsweep import tracking
from gdsweep.core.descent import descend
from gdsweep.core.regimes import classify
from gdsweep.core.spec import Tolerances
from gdsweep.report import plots
from gdsweep.report import sweep as report
from tests.conftest import all_runs, embedded_client

LRS = ["0.01", "0.1", "0.75", "1.0", "1.1"]
PNGS = ["cost_curves.png", "regime_map.png", "paths.png"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """One real multirun, shared by the tests below: its folder, store and runs."""
    folder = tmp_path_factory.mktemp("sweep")
    env = {k: v for k, v in __import__("os").environ.items() if k != "MLFLOW_TRACKING_URI"}
    result = subprocess.run(
        [sys.executable, "-m", "gdsweep", f"lr={','.join(LRS)}", "N=40", "--multirun"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    client = embedded_client(folder)
    runs = all_runs(client)
    [parent] = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    [sweep_dir] = (folder / "outputs" / "sweeps").iterdir()
    store = tracking.Store(f"sqlite:///{folder / 'outputs' / 'mlflow.db'}", parent.info.experiment_id)
    return {
        "folder": folder,
        "dir": sweep_dir,
        "store": store,
        "parent": parent,
        "children": children,
        "out": result.stdout,
        "drawn": {name: (sweep_dir / "report" / name).read_bytes() for name in PNGS},  # in the sweep's process
    }


def test_report_csv_has_one_row_per_run_with_the_logged_values(sweep):
    table = pd.read_csv(sweep["dir"] / "report" / "report.csv")
    assert table["lr"].tolist() == sorted(float(v) for v in LRS)
    by_id = {c.info.run_id: c for c in sweep["children"]}
    client = embedded_client(sweep["folder"])
    for row in table.itertuples():
        child = by_id[row.run_id]
        assert row.regime == child.data.tags["regime"]
        assert row.final_cost == pytest.approx(child.data.metrics["final_cost"])
        assert row.rate == pytest.approx(child.data.metrics["rate"])
        assert row.critical_lr == pytest.approx(1.0) and isinstance(row.predicted_regime, str)
        grads = sorted((m.step, m.value) for m in client.get_metric_history(row.run_id, "grad_norm"))
        first = next((s for s, v in grads if v <= 1e-6), None)
        assert (None if math.isnan(row.steps_to_tol) else int(row.steps_to_tol)) == first
    assert table.set_index("lr").loc[1.0, "period"] == 2
    assert table.set_index("lr").loc[0.75, "path"] == "zigzag"


def test_report_is_logged_to_the_parent_run_and_printed(sweep):
    client = embedded_client(sweep["folder"])
    logged = {a.path for a in client.list_artifacts(sweep["parent"].info.run_id, "report")}
    assert {f"report/{name}" for name in ["report.csv", *PNGS]} <= logged
    assert "▼ converging" in sweep["out"] and "◆ oscillating" in sweep["out"] and "▲ diverging" in sweep["out"]


@pytest.mark.parametrize("name", PNGS)
def test_every_figure_is_a_valid_png_of_sensible_size(sweep, name):
    path = sweep["dir"] / "report" / name
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width, _ = matplotlib.image.imread(path).shape
    assert 300 <= height <= 2000 and 500 <= width <= 4000


def test_plotted_curves_are_the_logged_metrics(sweep):
    store, children = sweep["store"], sweep["children"]
    histories = {c.info.run_id: tracking.histories(store, c.info.run_id, ("cost", "x")) for c in children}
    table = report.frame(children)
    figs = report.figures(store, children, histories, table)
    lines = {line.get_gid(): line for line in figs["cost_curves.png"].axes[0].get_lines()}
    for child in children:
        logged = histories[child.info.run_id]["cost"]
        line = lines[f"lr={float(child.data.params['lr'])!r}"]
        assert list(line.get_xdata()) == [s for s, _ in logged] and list(line.get_ydata()) == [v for _, v in logged]
    for ax in figs["paths.png"].axes:  # each panel: the logged iterates, up to where a diverging run leaves
        lr = float(ax.get_title().split(":")[0].removeprefix("lr="))
        [child] = [c for c in children if float(c.data.params["lr"]) == lr]
        [drawn] = [line.get_xdata() for line in ax.get_lines() if line.get_gid() == "iterates"]
        logged = [v for _, v in histories[child.info.run_id]["x"]]
        assert len(drawn) >= 2 and list(drawn) == logged[: len(drawn)]
    regime_points = sorted(
        tuple(p) for ax in figs["regime_map.png"].axes for c in ax.collections for p in c.get_offsets()
    )
    assert regime_points == sorted((float(c.data.params["lr"]), c.data.metrics["rate"]) for c in children)


def test_the_report_drawn_from_the_jobs_in_process_is_the_one_mlflow_alone_gives(sweep, tmp_path):
    """The sweep's process draws its report from what its jobs returned; rebuilt from MLflow, it is the same."""
    report.build(sweep["store"], sweep["parent"].info.run_id, tmp_path / "again")
    for name in PNGS:
        assert (tmp_path / "again" / name).read_bytes() == sweep["drawn"][name], name


@pytest.mark.parametrize("how", ["sweep_dir", "run_id", "experiment"])
def test_report_command_rebuilds_from_the_store(sweep, how):
    target = {"sweep_dir": str(sweep["dir"]), "run_id": sweep["parent"].info.run_id, "experiment": "gdsweep"}[how]
    for name in ["report.csv", *PNGS]:
        (sweep["dir"] / "report" / name).unlink(missing_ok=True)
    result = subprocess.run(
        [sys.executable, "-m", "gdsweep.report", target],
        cwd=sweep["folder"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    parent = sweep["parent"].info.run_id
    # a sweep folder named on the command line keeps its report; one rebuilt from the store goes
    # under this machine's outputs/reports/, not to the folder the run's gdsweep.sweep_dir tag names
    folder = sweep["dir"] / "report" if how == "sweep_dir" else sweep["folder"] / "outputs" / "reports" / parent
    assert all((folder / name).is_file() for name in ["report.csv", *PNGS])
    assert "◆ oscillating" in result.stdout and parent in result.stdout


def test_report_command_names_what_it_cannot_find(sweep):
    result = subprocess.run(
        [sys.executable, "-m", "gdsweep.report", "no_such_experiment"],
        cwd=sweep["folder"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (
        result.returncode != 0
        and "no experiment 'no_such_experiment'" in result.stderr
        and "Traceback" not in result.stderr
    )


def test_two_hundred_lrs_stay_legible():
    lrs = torch.logspace(-3, 0.2, 200, dtype=torch.float64)
    t = descend(lambda x: x**2, torch.tensor([4.0], dtype=torch.float64), lrs, 50)
    labels = classify(t.cost, t.x, t.grad_norm, Tolerances())
    runs = [
        plots.run_data(lr, labels.regime[b], labels.rate[b], list(enumerate(t.cost[:, b].tolist())), t.x[:, b].tolist())
        for b, lr in enumerate(lrs.tolist())
    ]
    curves = plots.cost_curves(runs)
    assert len([line for line in curves.axes[0].get_lines() if line.get_gid().startswith("lr=")]) == 200
    assert [t.get_text() for t in curves.axes[0].get_legend().get_texts()] == ["converging", "oscillating", "diverging"]
    panels = plots.paths(runs, lambda p: (p**2).sum(-1), lambda p: 2 * p[:, 0])
    assert len(panels.axes) == plots.MAX_PANELS


def test_diverging_runs_do_not_set_the_scale_of_the_figures():
    # 16 lrs on the double well (f* = -3.51391) from -0.5: the largest blow up to inf
    lrs = torch.linspace(0.02, 0.5, 16, dtype=torch.float64)
    t = descend(lambda x: (x**4 - 3 * x**2 + x).sum(-1), torch.tensor([-0.5], dtype=torch.float64), lrs, 60)
    labels = classify(t.cost, t.x, t.grad_norm, Tolerances())
    assert {"converging", "diverging"} <= set(labels.regime)
    runs = [
        plots.run_data(lr, labels.regime[b], labels.rate[b], list(enumerate(t.cost[:, b].tolist())), t.x[:, b].tolist())
        for b, lr in enumerate(lrs.tolist())
    ]
    f_star = -3.51391
    curves = plots.cost_curves(runs, f_star)
    ax = curves.axes[0]
    assert ax.get_yscale() == "log"
    kept = [v - f_star for r in runs if r["regime"] != "diverging" for _, v in r["cost"] if v - f_star > 0]
    low, high = ax.get_ylim()
    assert min(kept) / 10 < low < min(kept) and max(kept) < high < 10 * max(kept)  # framed by the others
    exits = {line.get_gid() for line in ax.get_lines() if line.get_gid().startswith("exit")}
    assert exits == {f"exit lr={r['lr']!r}" for r in runs if r["regime"] == "diverging"}
    panels = plots.paths(runs, lambda p: (p**4 - 3 * p**2 + p).sum(-1), None, [(-1.30084,)])
    for panel in panels.axes:
        x_low, x_high = panel.get_xlim()
        assert -3 < x_low < -1.3 and 0 < x_high < 3  # the function's own window, not 1e28
        y_low, y_high = panel.get_ylim()
        assert -5 < y_low < -3.5 and 0 < y_high < 20
        if panel.get_title().endswith("diverging"):
            assert [line.get_gid() for line in panel.get_lines()].count("exit") == 1
