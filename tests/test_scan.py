"""Dense scans and the edge search: every lr in one batched descent, one MLflow run, theory's edges."""

import csv
import io
import math
from pathlib import Path

import pytest
import torch

from gdsweep.core.descent import descend
from gdsweep.core.regimes import classify
from gdsweep.core.scan import ProgressBar, descend_tail, grid
from gdsweep.core.spec import Tolerances
from gdsweep.jobs.runner import prepare
from gdsweep.jobs.scan_job import execute_scan
from gdsweep.objectives import functions
from tests.conftest import all_runs, embedded_client

CPU = torch.device("cpu")


@pytest.mark.parametrize(
    "name,x0,lr_min,lr_max,edge",
    [("quadratic", 4.0, 0.01, 1.5, 1.0), ("double_well", 0.5, 0.02, 0.34, 0.21397)],
    ids=["x**2", "double_well"],
)
def test_tail_only_labels_equal_whole_trajectory_labels(name, x0, lr_min, lr_max, edge):
    f = functions.build({"name": name}, 1).f
    lrs = grid(lr_min, lr_max, 300, "linear", torch.float64, CPU)
    start = torch.tensor([x0], dtype=torch.float64)
    whole = descend(f, start, lrs, 1000)
    want = classify(whole.cost, whole.x, whole.grad_norm, Tolerances())
    widths = []
    scanned = descend_tail(f, start, lrs, 1000, 64, Tolerances(), watch=lambda piece: widths.append(len(piece.lr)))
    assert scanned.tail.x.shape == (65, 300, 1) and scanned.tail.start == 1000 - 64  # memory: 65 rows, not 1001
    assert widths[0] == 300 and widths[-1] < 300  # the lrs that stopped left the batch; the tail still has them
    torch.testing.assert_close(scanned.tail.x, whole.x[-65:], rtol=0, atol=0, equal_nan=True)  # bitwise
    # The labels read the whole run (the rate only the tail). Within 1 % of the edge, where a run
    # crawls for thousands of steps, "converging slowly" and "no net progress" may read differently.
    clear = [abs(lr - edge) > 0.01 * edge for lr in lrs.tolist()]
    for field in ("regime", "path", "period", "converged"):
        got, expected = getattr(scanned.labels, field), getattr(want, field)
        assert [g for g, c in zip(got, clear) if c] == [e for e, c in zip(expected, clear) if c], field


def test_a_fast_zigzag_is_still_a_zigzag_when_only_the_tail_is_kept():
    # lr just above 1/λmax on x**2: two sign flips, then x = 0 exactly; the tail holds only zeros
    scanned = descend_tail(lambda x: x**2, torch.tensor([4.0]), torch.tensor([0.49, 0.51]), 500, 16, Tolerances())
    assert scanned.labels.path == ["monotone", "zigzag"] and scanned.labels.converged == [True, True]


def test_dense_scan_is_one_mlflow_run_with_a_row_per_lr_and_the_figures(make_config, tmp_path):
    cfg = make_config("scan=dense", "scan.num=400", "N=300", "scan.lr_min=0.01", "scan.lr_max=1.5")
    outcome = execute_scan(cfg, ["scan=dense"])
    client = embedded_client(tmp_path)
    [run] = all_runs(client)  # one run, not 400
    assert run.info.status == "FINISHED" and run.data.tags["gdsweep.role"] == "scan"
    assert {a.path for a in client.list_artifacts(run.info.run_id, "scan")} == {
        "scan/scan.csv",
        "scan/bifurcation.png",
        "scan/regime_strip.png",
    }
    with Path(client.download_artifacts(run.info.run_id, "scan/scan.csv")).open() as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == 400 and list(table[0]) == ["lr", "regime", "path", "period", "converged", "final_cost", "rate"]
    for row in table:  # the theory of x**2: monotone below 1/λmax = 0.5, zigzag to 2/λmax = 1, diverging above
        lr = float(row["lr"])
        if lr < 0.499:
            assert (row["regime"], row["path"]) == ("converging", "monotone"), row
        elif 0.501 < lr < 0.999:
            assert (row["regime"], row["path"]) == ("converging", "zigzag"), row
        elif lr > 1.001:
            assert row["regime"] == "diverging", row
    metrics = run.data.metrics
    assert metrics["lrs"] == 400 and metrics["n_converging"] + metrics["n_diverging"] + metrics["n_oscillating"] == 400
    assert metrics["critical_lr"] == pytest.approx(1.0) and metrics["lambda_max"] == pytest.approx(2.0)
    spacing = (1.5 / 0.01) ** (1 / 399)  # one grid step on the log axis
    assert 1 / spacing <= metrics["stable_lr_max"] <= 1.0 and 0.5 <= metrics["zigzag_lr"] <= 0.5 * spacing
    assert outcome.metrics == pytest.approx(metrics)


@pytest.mark.parametrize(
    "overrides,edge,zigzag",
    [
        ([], 1.0, 0.5),  # x**2: λmax = 2
        (["function=scaled_quadratic", "function.a=5"], 0.2, 0.1),  # 5x²: λmax = 10
        (["function=double_well", "x0=0.5", "dtype=float64"], None, None),  # the well at 1.13: λmax = 9.35
    ],
    ids=["x**2", "5x**2", "double_well"],
)
def test_edge_search_brackets_2_over_lambda_max(make_config, tmp_path, overrides, edge, zigzag):
    cfg = make_config("scan=edge", *overrides)
    metrics = execute_scan(cfg, ["scan=edge", *overrides]).metrics
    lo, hi = metrics["edge_lr"], metrics["edge_lr_upper"]
    assert lo < hi <= lo * (1 + 1e-3)  # the configured relative tolerance
    assert metrics["zigzag_lr_lower"] < metrics["zigzag_lr"] <= metrics["zigzag_lr_lower"] * (1 + 1e-3)
    critical = metrics["critical_lr"]
    if edge is not None:
        assert critical == pytest.approx(edge, rel=1e-6)
        assert metrics["zigzag_lr"] == pytest.approx(zigzag, rel=1e-3)
    assert lo <= critical * (1 + 1e-3) and hi >= critical * (1 - 1e-3)  # 2/λmax inside the bracket, to rel_tol
    assert metrics["edge_over_critical"] == pytest.approx(1.0, abs=1e-3)
    [run] = all_runs(embedded_client(tmp_path))
    assert run.data.metrics["edge_lr"] == lo and run.data.tags["gdsweep.scan"] == "edge"


def test_edge_search_says_when_the_bracket_is_wrong(make_config):
    from gdsweep.errors import GdsweepError

    with pytest.raises(GdsweepError, match=r"^scan.lr_max: 0.9 still converges; raise it"):
        execute_scan(make_config("scan=edge", "scan.lr_max=0.9"))


def test_scan_from_the_command_line(cli, tmp_path):
    result = cli(
        "scan=dense",
        "scan.num=2000",
        "function=double_well",
        "x0=0.5",
        "scan.spacing=linear",
        "scan.lr_min=0.02",
        "scan.lr_max=0.34",
    )
    assert result.returncode == 0, result.stderr
    assert "2000 lrs from 0.02 to 0.34 (linear)" in result.stdout and "converges up to lr=0.21" in result.stdout
    [run] = all_runs(embedded_client(tmp_path))
    assert run.info.status == "FINISHED" and run.data.params["scan.num"] == "2000"
    assert len(list((tmp_path / "outputs" / "runs").glob("*/scan/bifurcation.png"))) == 1


def test_progress_bar_reaches_the_end():
    stream = io.StringIO()
    bar = ProgressBar(1000, stream, force=True)
    for done in (250, 500, 1000):
        bar(done)
    assert stream.getvalue().rstrip().endswith("s") and "] 1000/1000 steps" in stream.getvalue()
    assert stream.getvalue().endswith("\n")


def test_scan_job_fails_cleanly_on_a_bad_function_before_any_run(make_config, tmp_path):
    from gdsweep.errors import GdsweepError

    with pytest.raises(GdsweepError):
        prepare(make_config("scan=dense", "function=himmelblau", "x0=[1,2,3]"), [], None)
    assert not (tmp_path / "outputs" / "mlflow.db").exists()


@pytest.mark.parametrize("retire", [False, True], ids=["every column", "stopped columns dropped"])
def test_the_first_step_within_tolerance_is_found_across_pieces(retire):
    """FirstReached, fed a descent in pieces, notes for each lr the first step whose gradient is
    within grad_tol (x² from 4: |∇f| = 8·|1 - 2lr|^k), and inf for an lr that never gets there."""
    from gdsweep.core.descent import descend_in_chunks
    from gdsweep.core.suggest import FirstReached

    lrs = torch.tensor([0.1, 0.25, 0.5, 1.2], dtype=torch.float64)
    reached = FirstReached(1e-6)
    for piece in descend_in_chunks(
        lambda x: x**2, torch.tensor([4.0], dtype=torch.float64), lrs, 100, 7, retire=retire
    ):
        reached(piece)
    expected = [math.ceil(math.log(1e-6 / 8) / math.log(abs(1 - 2 * lr))) for lr in (0.1, 0.25)]
    assert reached.step.tolist() == [*expected, 1.0, math.inf]  # lr=0.5 lands on the minimum in one step
