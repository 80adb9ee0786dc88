"""Every run knows its theory point: the minimiser descent from x0 heads for, found once per (f, x0)."""

import math

import pytest
import torch

from gdsweep.core import theory
from gdsweep.jobs.runner import execute
from gdsweep.objectives.functions import coordinate_sum
from tests.conftest import all_runs, embedded_client

double_well = lambda x: coordinate_sum(x**4 - 3 * x**2 + x)


@pytest.mark.parametrize(
    "f,x0,expected",
    [
        (double_well, [-0.5], [-1.300839566]),  # the global well, left of the bump at 0.17
        (double_well, [0.5], [1.130901122]),  # the other well: where GD from 0.5 goes too
        (lambda x: 100 * (x[:, 1] - x[:, 0] ** 2) ** 2 + (1 - x[:, 0]) ** 2, [-1.2, 1.0], [1.0, 1.0]),
        (lambda x: coordinate_sum(torch.sin(x)), [1.0], [-math.pi / 2]),
        (lambda x: coordinate_sum(x**4), [2.0], [0.0]),  # flat: a minimum all the same
    ],
    ids=["double_well_left", "double_well_right", "rosenbrock", "sin", "x**4"],
)
def test_heading_for_finds_the_local_minimiser_descent_heads_for(f, x0, expected):
    found = theory.heading_for(f, torch.tensor(x0))
    assert found.tolist() == pytest.approx(expected, abs=2e-3 if expected == [0.0] else 1e-6)


@pytest.mark.parametrize(
    "f,x0",
    [
        (lambda x: -coordinate_sum(x**2), [4.0]),
        (lambda x: coordinate_sum(x**3), [-1.0]),
        (lambda x: coordinate_sum(x**3), [4.0]),  # creeps into the inflection at 0, then f falls for ever
        (lambda x: x[:, 0] ** 2 - x[:, 1] ** 2, [1.0, 1e-3]),
        (lambda x: -coordinate_sum(x**2), [0.0]),  # x0 sits on a maximum
    ],
    ids=["-x**2", "x**3 from -1", "x**3 from 4", "saddle", "on a maximum"],
)
def test_no_theory_point_where_f_is_unbounded_below_along_the_way(f, x0):
    assert theory.heading_for(f, torch.tensor(x0)) is None


def test_the_theory_point_is_found_once_per_function_and_x0():
    calls = []

    def f(x):
        calls.append(1)
        return coordinate_sum(3 * x**2)

    first = theory.heading_for(f, torch.tensor([4.0]), key=("3x**2 once", (4.0,)))
    searched = len(calls)
    again = theory.heading_for(f, torch.tensor([4.0]), key=("3x**2 once", (4.0,)))
    assert searched > 0 and len(calls) == searched and again is first


def test_every_run_of_an_expression_sweep_logs_its_theory_point(cli, tmp_path):
    result = cli("function=expr", "function.expr='3*x**2'", "lr=0.1,0.5,0.7", "N=30", "dtype=float64", "--multirun")
    assert result.returncode == 0, result.stderr
    children = [r for r in all_runs(embedded_client(tmp_path)) if "mlflow.parentRunId" in r.data.tags]
    by_lr = {float(r.data.params["lr"]): r for r in children}
    assert [by_lr[lr].data.tags["regime"] for lr in (0.1, 0.5, 0.7)] == ["converging", "diverging", "diverging"]
    for lr, predicted in [(0.1, "monotone"), (0.5, "diverging"), (0.7, "diverging")]:
        run = by_lr[lr]
        assert run.data.metrics["lambda_max"] == pytest.approx(6.0, rel=1e-9)
        assert run.data.metrics["critical_lr"] == pytest.approx(1 / 3, rel=1e-9)
        assert run.data.tags["predicted_regime"] == predicted
        where, at = run.data.tags["theory_point"].rstrip(")").split(" (")
        assert where in ("last iterate", "local minimiser") and abs(float(at)) < 1e-6
    assert "critical_lr" in result.stdout and "0.333333" in result.stdout  # the sweep table's column filled


def test_an_unbounded_objective_has_no_theory_point(make_config, tmp_path):
    overrides = ["function=expr", "function.expr='-x**2'", "N=50"]
    outcome = execute(make_config(*overrides), overrides=overrides)
    run = embedded_client(tmp_path).get_run(outcome.run_id)
    assert run.data.tags["regime"] == "diverging" and run.data.metrics["final_cost"] < -1e8
    assert run.data.tags["theory_point"] == "none" and run.data.tags["predicted_regime"] == "unknown"
    assert "lambda_max" not in run.data.metrics and "critical_lr" not in run.data.metrics
    assert (outcome.row.critical_lr, outcome.row.predicted) == (None, "unknown")


def test_a_diverging_run_on_a_named_function_gets_the_minimiser_it_started_towards(make_config, tmp_path):
    # the double well from 0.5 heads for the well at 1.13, which the function does not list
    overrides = ["function=double_well", "x0=0.5", "lr=0.5", "N=30", "dtype=float64"]
    outcome = execute(make_config(*overrides), overrides=overrides)
    run = embedded_client(tmp_path).get_run(outcome.run_id)
    assert run.data.tags["regime"] == "diverging"
    assert run.data.tags["theory_point"] == "local minimiser (1.1309)"
    assert run.data.metrics["lambda_max"] == pytest.approx(12 * 1.130901122**2 - 6, rel=1e-6)


def test_plain_run_table_has_the_sweep_tables_theory_columns(cli):
    result = cli("lr=0.75", "N=20")
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.splitlines()[:2]
    assert header.split()[-2:] == ["critical_lr", "predicted_regime"]
    assert row.split()[-2:] == ["1", "zigzag"]


def test_an_edge_decided_by_runs_short_of_the_minimum_says_so_and_names_n(cli):
    # Rosenbrock's edge at N=2000 lies 18 % above 2/λmax: the runs there are still in the valley
    result = cli("scan=edge", "function=rosenbrock", "dtype=float64", "N=2000")
    assert result.returncode == 0, result.stderr
    [line] = [line for line in result.stdout.splitlines() if "horizon:" in line]
    needed = int(line.rsplit("N=", 1)[1].split()[0])
    assert 5000 < needed < 40000  # measured: N=9700 puts the edge within 0.5 % of 2/λmax


def test_a_sweep_converging_above_the_critical_lr_says_the_horizon_decides(cli):
    result = cli("function=rosenbrock", "dtype=float64", "lr=0.0015,0.0022", "N=2000", "--multirun")
    assert result.returncode == 0, result.stderr
    [note] = [line for line in result.stdout.splitlines() if line.startswith("Horizon:")]
    assert "lr=0.0022 " in note and "N=" in note
