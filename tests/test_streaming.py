"""Long runs: every step in the run's Parquet table, thinned MLflow histories, memory flat in N."""

import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from gdsweep import tracking
from gdsweep.config import MIN_POINTS
from gdsweep.core.descent import descend
from gdsweep.jobs.runner import execute
from gdsweep.objectives import functions
from gdsweep.tracking.thinning import Thinner, kept_steps
from tests.conftest import embedded_client


def history(client, run_id, key):
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def store_of(outcome, client):
    return tracking.Store(outcome.uri, client.get_run(outcome.run_id).info.experiment_id)


@pytest.mark.parametrize("n, budget", [(10, 16), (1999, 2000), (2000, 2000), (200_000, 2000), (10**9, 1000)])
def test_the_planned_steps_hold_0_and_N_and_fit_the_budget_with_room_for_a_blowup(n, budget):
    plan = kept_steps(n, budget)
    if n + 1 <= budget:
        assert plan is None  # everything fits: every step is logged
        return
    assert plan[0] == 0 and plan[-1] == n and (np.diff(plan) > 0).all()
    assert len(plan) + 3 <= budget  # the step before a blow-up, the blow-up, the last step of a stopped run
    assert (plan[:50] == np.arange(50)).all()  # dense at the start, where a descent changes fastest
    assert np.diff(plan).max() <= 2 * n / (budget // 2)  # and evenly spread to the end


@pytest.mark.parametrize("budget", range(MIN_POINTS, 64))
def test_every_budget_the_config_accepts_plans_0_and_N_within_it(budget):
    """The smallest budgets too (below 24 the head of the plan would be empty)."""
    for n in (budget, 2 * budget + 1, 10**6):
        plan = kept_steps(n, budget)
        assert plan[0] == 0 and plan[-1] == n and (np.diff(plan) > 0).all()
        assert len(plan) + 3 <= budget


def test_a_blowup_at_the_start_of_a_chunk_asks_for_the_last_row_of_the_chunk_before():
    thinner = Thinner(10_000, 100)
    first, _ = thinner.select(0, np.ones(1001, bool))
    finite = np.ones(1000, bool)
    finite[0:] = False
    chosen, previous = thinner.select(1001, finite)  # step 1001 is the first non-finite one
    assert thinner.blown == 1001 and previous and 0 in chosen.tolist()
    assert 1000 not in first.tolist()  # so step 1000 is logged only because of the blow-up


def test_a_long_run_has_every_step_in_its_table_and_a_thinned_history(make_config, tmp_path):
    overrides = ["function=double_well", "x0=0.5", "lr=0.27", "N=30000", "tracking.max_points=300"]
    outcome = execute(make_config(*overrides), overrides=overrides)
    client = embedded_client(tmp_path)
    table = tracking.read_trajectory(store_of(outcome, client), outcome.run_id)
    f = functions.build({"name": "double_well"}, 1).f
    reference = descend(f, torch.tensor([0.5]), torch.tensor([0.27]), 30_000)  # the descent, in one call
    assert table["step"].tolist() == list(range(30_001))
    assert np.array_equal(table["cost"], reference.cost[:, 0].numpy())  # bitwise, in float32
    assert np.array_equal(table["x"], reference.x[:, 0, 0].numpy())
    assert np.array_equal(table["grad_norm"], reference.grad_norm[:, 0].numpy())
    steps = {}
    for key in ("cost", "grad_norm", "x", "dist_to_opt"):
        points = history(client, outcome.run_id, key)
        steps[key] = [s for s, _ in points]
        assert len(points) <= 300 and points[0][0] == 0 and points[-1][0] == 30_000
        assert [v for _, v in points] == table[key][[s for s, _ in points]].tolist()  # the table's own values
    assert steps["cost"] == steps["x"] == steps["grad_norm"] == steps["dist_to_opt"]  # one step grid per run
    assert client.get_run(outcome.run_id).data.tags["gdsweep.thinned"] == "true"


def test_a_thinned_history_keeps_the_step_where_the_run_blew_up(make_config, tmp_path):
    outcome = execute(make_config("lr=1.1", "N=5000", "tracking.max_points=40"))
    client = embedded_client(tmp_path)
    blown = int(client.get_run(outcome.run_id).data.tags["nonfinite_from_step"])
    assert 0 < blown < 5000
    cost = history(client, outcome.run_id, "cost")
    x = history(client, outcome.run_id, "x")
    assert cost[-1][0] == blown - 1 and all(math.isfinite(v) for _, v in cost)  # the last finite cost
    assert blown in [s for s, _ in x]  # x**2 overflowed at this step; x itself is still finite there
    table = tracking.read_trajectory(store_of(outcome, client), outcome.run_id, ["cost"])
    assert len(table["cost"]) == 5001 and not np.isfinite(table["cost"][blown])


def test_reproduce_compares_every_step_of_a_thinned_run(make_config, tmp_path):
    from gdsweep.reproduce import reproduce

    overrides = ["function=double_well", "x0=0.5", "lr=0.27", "N=3000", "tracking.max_points=50"]
    source = execute(make_config(*overrides), overrides=overrides)
    result = reproduce(source.uri, source.run_id)
    assert result.identical, result.first_difference
    client = embedded_client(tmp_path)
    store = store_of(source, client)
    assert tracking.same_trajectory(store, source.run_id, result.run_id) is None
    other = execute(make_config(*overrides[:-2], "N=3000", "lr=0.2701", "tracking.max_points=50"))
    assert tracking.same_trajectory(store, source.run_id, other.run_id).startswith("cost at step 1:")


PEAK = """
import resource, sys
from hydra import compose, initialize_config_module
import gdsweep.config
from gdsweep.jobs.runner import execute
overrides = ["x0=[{x0}]", "N=" + sys.argv[1], "tracking.max_points=100", "outputs_dir=" + sys.argv[2], "device=cpu"]
with initialize_config_module("gdsweep.conf", version_base="1.3"):
    execute(compose("config", overrides=overrides))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_memory_does_not_grow_with_the_number_of_steps(tmp_path):
    """A 500-D run: every kept row is 2 kB, so holding 40 000 steps would take 80 MB more than 2 000."""
    script = textwrap.dedent(PEAK).replace("{x0}", ",".join(["1.0"] * 500))
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    peak = {}
    for steps in (2000, 40_000):
        done = subprocess.run(
            [sys.executable, "-c", script, str(steps), str(tmp_path / str(steps))],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        peak[steps] = int(done.stdout.split()[-1]) / 1024  # MiB
    assert peak[40_000] - peak[2000] < 30, peak
