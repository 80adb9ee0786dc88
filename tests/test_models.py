"""Real models on real data, through the real CLI and the MLflow store it writes.

Least squares has exact theory (Hessian X̃ᵀX̃/n), checked against numpy; logistic regression
converges on breast_cancer; the MLP's batched rows equal separate runs; the MLP reaches the edge
of stability; bad model settings are one line.
"""

from __future__ import annotations

import csv
import itertools
import math
import shlex
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_diabetes

from tests.conftest import all_runs, embedded_client


def diabetes_hessian_eigenvalues() -> np.ndarray:
    """Eigenvalues of X̃ᵀX̃/n for diabetes, preprocessed by hand (population std, bias column)."""
    features, _ = load_diabetes(return_X_y=True)
    standard = (features - features.mean(0)) / features.std(0)
    design = np.c_[standard, np.ones(len(standard))]
    return np.linalg.eigvalsh(design.T @ design / len(design))


def only_run(tmp_path: Path):
    runs = [r for r in all_runs(embedded_client(tmp_path)) if "mlflow.parentRunId" not in r.data.tags]
    assert len(runs) == 1
    return runs[0]


def child_runs(tmp_path: Path) -> list:
    runs = [r for r in all_runs(embedded_client(tmp_path)) if "mlflow.parentRunId" in r.data.tags]
    return sorted(runs, key=lambda r: float(r.data.params["lr"]))


def history(tmp_path: Path, run, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in embedded_client(tmp_path).get_metric_history(run.info.run_id, key))


def test_least_squares_lambda_max_and_best_step_equal_numpy_eigvalsh(cli, tmp_path):
    done = cli("function=linear_regression", "dtype=float64", "lr=0.1", "N=50", "threads=2")
    assert done.returncode == 0, done.stderr
    run = only_run(tmp_path)
    eigenvalues = diabetes_hessian_eigenvalues()
    low, top = eigenvalues.min(), eigenvalues.max()
    metrics = run.data.metrics
    assert metrics["lambda_max"] == pytest.approx(top, rel=1e-8)
    assert metrics["critical_lr"] == pytest.approx(2 / top, rel=1e-8)
    assert metrics["lambda_min"] == pytest.approx(low, rel=1e-8)
    assert metrics["best_fixed_lr"] == pytest.approx(2 / (low + top), rel=1e-8)
    assert metrics["lambda_max_init"] == pytest.approx(top, rel=1e-8)  # a quadratic: the same everywhere
    params = run.data.params
    assert (params["function.dataset"], params["data.n_samples"], params["model.n_params"]) == ("diabetes", "442", "11")
    assert params["torch.threads"] == "2"  # threads=N overrides auto
    assert {"cost", "grad_norm", "param_norm", "dist_to_opt"} <= set(metrics)
    assert not {"x", "x_0", "accuracy"} & set(metrics)  # no raw parameters; no accuracy for a regression
    assert len(history(tmp_path, run, "param_norm")) == 51


def test_least_squares_converges_just_below_two_over_lambda_max_and_diverges_just_above(cli, tmp_path):
    critical = 2 / float(diabetes_hessian_eigenvalues().max())
    below, above = 0.99 * critical, 1.01 * critical
    done = cli("function=linear_regression", "dtype=float64", "N=1500", f"lr={below!r},{above!r}", "--multirun")
    assert done.returncode == 0, done.stderr
    slow, fast = child_runs(tmp_path)
    assert slow.data.tags["regime"] == "converging"  # the top mode zigzags; the slow ones set the vote
    assert fast.data.tags["regime"] == "diverging"
    assert [r.data.tags["predicted_regime"] for r in (slow, fast)] == ["zigzag", "diverging"]


def test_least_squares_edge_scan_finds_two_over_lambda_max(cli, tmp_path):
    critical = 2 / float(diabetes_hessian_eigenvalues().max())
    done = cli("function=linear_regression", "dtype=float64", "scan=edge", "scan.lr_min=0.01", "scan.lr_max=1")
    assert done.returncode == 0, done.stderr
    metrics = only_run(tmp_path).data.metrics
    assert metrics["critical_lr"] == pytest.approx(critical, rel=1e-8)
    assert metrics["edge_lr"] <= critical * (1 + 1e-3)
    assert metrics["edge_lr_upper"] >= critical * (1 - 1e-3)
    assert metrics["edge_lr_upper"] / metrics["edge_lr"] - 1 <= 1e-3


def test_dense_scan_suggests_the_fastest_converging_lr_next_to_theory(cli, tmp_path):
    done = cli("scan=dense", "scan.num=101", "scan.lr_min=0.01", "scan.lr_max=1.5", "N=200", "dtype=float64")
    assert done.returncode == 0, done.stderr
    metrics = only_run(tmp_path).data.metrics
    assert metrics["best_fixed_lr"] == pytest.approx(0.5)  # x²: λmin = λmax = 2
    assert metrics["suggested_lr"] == pytest.approx(0.5, rel=0.05)  # the nearest grid points reach 0 first
    assert "suggested lr=" in done.stdout


def test_logistic_regression_converges_on_breast_cancer_at_a_modest_lr(cli, tmp_path):
    done = cli("function=logistic_regression", "lr=0.5", "N=300")
    assert done.returncode == 0, done.stderr
    run = only_run(tmp_path)
    assert run.data.tags["regime"] == "converging"
    cost, accuracy = history(tmp_path, run, "cost"), history(tmp_path, run, "accuracy")
    assert cost[0][1] == pytest.approx(math.log(2))  # zero weights: p = ½ for every sample
    assert cost[-1][1] < 0.1
    assert len(accuracy) == 301 and accuracy[-1][1] > 0.97
    assert run.data.params["model.n_params"] == "31"  # 30 features + bias, one weight vector
    assert run.data.params["torch.threads"] == "1"  # threads=auto: a small problem runs on one thread
    assert {"lambda_max_init", "lambda_max", "critical_lr"} <= set(run.data.metrics)


def test_mlp_batched_rows_equal_separate_runs(cli, tmp_path):
    common = ["function=mlp", "function.n_samples=200", "function.hidden=[16]", "N=30", "dtype=float64"]
    scan = cli(*common, "scan=dense", "scan.num=3", "scan.lr_min=0.1", "scan.lr_max=0.9", "scan.spacing=linear")
    assert scan.returncode == 0, scan.stderr
    table_path = Path(scan.stdout.split("Scan table and figures: ")[1].split(" (")[0]) / "scan.csv"
    with table_path.open() as handle:
        batched = {float(row["lr"]): float(row["final_cost"]) for row in csv.DictReader(handle)}
    lrs = ",".join(repr(lr) for lr in batched)
    separate = cli(*common, f"lr={lrs}", "tracking.experiment=separate", "--multirun")
    assert separate.returncode == 0, separate.stderr
    runs = [r for r in all_runs(embedded_client(tmp_path), "separate") if "mlflow.parentRunId" in r.data.tags]
    alone = {float(r.data.params["lr"]): r.data.metrics["final_cost"] for r in runs}
    assert alone.keys() == batched.keys()
    for lr, cost in batched.items():
        assert alone[lr] == pytest.approx(cost, rel=1e-12, abs=0)


def test_mlp_reaches_the_edge_of_stability_at_lr_0_4(cli, tmp_path):
    done = cli("function=mlp", "lr=0.4", "N=400", "track_sharpness_every=20")
    assert done.returncode == 0, done.stderr
    run = only_run(tmp_path)
    sharpness = dict(history(tmp_path, run, "sharpness"))
    edge = 2 / 0.4
    assert sharpness[0] < 0.6 * edge  # progressive sharpening starts well below 2/lr
    late = [value for step, value in sharpness.items() if step >= 200]
    assert 0.85 * edge <= float(np.median(late)) <= 1.15 * edge  # ... and hovers at 2/lr
    assert all(0.7 * edge <= value <= 1.3 * edge for value in late)
    cost = [value for _, value in history(tmp_path, run, "cost")]
    assert cost[-1] < cost[0] / 5 and any(b > a for a, b in itertools.pairwise(cost[200:]))  # falls, not monotonically
    assert history(tmp_path, run, "accuracy")[-1][1] > 0.9
    artifacts = [a.path for a in embedded_client(tmp_path).list_artifacts(run.info.run_id, "plots")]
    assert "plots/sharpness.png" in artifacts and "plots/path.png" not in artifacts


BAD = [
    ("function=linear_regression function.dataset=iris", "function.dataset:"),
    ("function=logistic_regression function.dataset=diabetes", "function.dataset:"),
    ("function=mlp function.dataset=mnist", "function.dataset:"),
    ("function=mlp x0=[1,2]", "x0:"),
    ("function=linear_regression function.n_samples=1", "function.n_samples:"),
    ("threads=0", "threads:"),
]


@pytest.mark.parametrize("override,key", BAD, ids=[b[0] for b in BAD])
def test_bad_model_setting_gets_one_line(cli, tmp_path, override, key):
    done = cli(*shlex.split(override))
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    problem, fix = lines[0].split("; ", 1)
    assert problem.startswith(f"gdsweep: error: {key}")
    assert key.rstrip(":") + "=" in fix
    assert "Traceback" not in done.stderr + done.stdout
    if (tmp_path / "outputs" / "mlflow.db").exists():
        assert all(r.info.status != "RUNNING" for r in all_runs(embedded_client(tmp_path)))


def test_sweep_report_draws_sharpness_with_the_two_over_lr_line_of_every_run(cli, tmp_path):
    from gdsweep import tracking
    from gdsweep.report import plots, sweep

    common = ["function=mlp", "function.n_samples=100", "function.hidden=[8]", "N=40", "track_sharpness_every=10"]
    done = cli(*common, "lr=0.2,0.5", "--multirun")
    assert done.returncode == 0, done.stderr
    report = tmp_path / done.stdout.split("Report: ")[1].split(" (")[0]
    assert (report / "sharpness.png").is_file()
    store = tracking.Store(
        f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}", child_runs(tmp_path)[0].info.experiment_id
    )
    runs = child_runs(tmp_path)
    drawn = [sweep._plot_input(r, tracking.histories(store, r.info.run_id, ["cost", "sharpness"])) for r in runs]
    figure = plots.sharpness(drawn)
    lines = {line.get_gid(): line for line in figure.axes[0].get_lines()}
    for run in runs:
        lr = float(run.data.params["lr"])
        assert list(lines[f"2/lr={lr!r}"].get_ydata()) == [2 / lr, 2 / lr]
        assert list(lines[f"lr={lr!r}"].get_xdata()) == [0, 10, 20, 30, 40]


def test_scan_figures_mark_the_suggested_lr_and_the_best_fixed_step():
    from gdsweep.report import scan_figures

    lrs = np.linspace(0.1, 1.2, 12)
    regimes = ["converging"] * 9 + ["diverging"] * 3
    marks = {"suggested_lr": 0.45, "best_fixed_lr": 0.5}
    figures = scan_figures.figures(lrs, np.zeros((4, 12)), regimes, 1.0, False, marks=marks)
    for figure in figures.values():
        drawn = {line.get_gid(): line.get_xdata()[0] for ax in figure.axes for line in ax.get_lines()}
        assert drawn["suggested_lr"] == 0.45 and drawn["best_fixed_lr"] == 0.5
