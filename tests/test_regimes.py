"""Regime labels against gradient-descent theory on quadratics, whatever N and dtype."""

import pytest
import torch

from gdsweep.core.descent import descend
from gdsweep.core.regimes import classify
from gdsweep.core.spec import Tolerances
from gdsweep.objectives.functions import coordinate_sum

# f = x**2, L = 2: monotone below 1/L = 0.5, zigzag up to 2/L = 1, a 2-cycle at 1, diverging above.
THEORY = [
    (0.001, "converging", "monotone", 0),
    (0.01, "converging", "monotone", 0),
    (0.1, "converging", "monotone", 0),
    (0.4, "converging", "monotone", 0),
    (0.6, "converging", "zigzag", 0),
    (0.75, "converging", "zigzag", 0),
    (0.9, "converging", "zigzag", 0),
    (0.99, "converging", "zigzag", 0),
    (1.0, "oscillating", None, 2),
    (1.01, "diverging", None, 0),
    (1.1, "diverging", None, 0),
    (1.5, "diverging", None, 0),
    (3.0, "diverging", None, 0),
]


def labels(f, x0, lrs, steps, dtype):
    t = descend(f, torch.tensor(x0, dtype=dtype), torch.tensor(lrs, dtype=dtype), steps)
    return classify(t.cost, t.x, t.grad_norm, Tolerances())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("steps", [2, 3, 9, 100, 1000])
def test_x_squared_agrees_with_theory(steps, dtype):
    r = labels(lambda x: x**2, [4.0], [lr for lr, *_ in THEORY], steps, dtype)
    got = list(zip(r.regime, r.path, r.period))
    assert got == [(regime, path, period) for _, regime, path, period in THEORY]


@pytest.mark.parametrize("a", [0.5, 4.0, 100.0])
def test_scaled_quadratic_thresholds_scale_with_curvature(a):
    # f = a x**2: L = 2a, so the edges sit at 1/(2a) and 1/a
    edge = 1 / a
    lrs = [0.3 * edge, 0.7 * edge, edge, 1.2 * edge]
    r = labels(lambda x: a * x**2, [1.0], lrs, 50, torch.float64)
    assert list(zip(r.regime, r.path)) == [
        ("converging", "monotone"),
        ("converging", "zigzag"),
        ("oscillating", None),
        ("diverging", None),
    ]
    assert r.period[2] == 2


def test_ill_conditioned_2d_follows_the_largest_eigenvalue():
    # f = 1/2 (1 x0^2 + 10 x1^2): lambda_max = 10, critical lr = 0.2
    f = lambda x: 0.5 * coordinate_sum(torch.tensor([1.0, 10.0], dtype=x.dtype) * x**2)
    r = labels(f, [1.0, 1.0], [0.05, 0.19, 0.2, 0.21], 400, torch.float64)
    assert r.regime == ["converging", "converging", "oscillating", "diverging"]
    assert r.period[2] == 2


def test_rate_is_the_per_step_contraction_of_the_cost():
    # on x**2 the cost shrinks by (1 - 2 lr)^2 per step
    r = labels(lambda x: x**2, [4.0], [0.1, 0.75, 1.1], 40, torch.float64)
    assert r.rate == pytest.approx([0.64, 0.25, 1.44], rel=1e-9)


def test_converged_when_the_gradient_vanishes():
    r = labels(lambda x: x**2, [4.0], [0.1, 0.3], 9, torch.float64)
    assert r.converged == [False, False]
    r = labels(lambda x: x**2, [4.0], [0.1, 0.3, 0.5], 300, torch.float64)
    assert r.converged == [True, True, True]


def test_non_finite_values_are_labelled_diverging():
    r = labels(lambda x: x**2, [4.0], [1.1, 50.0], 1000, torch.float32)
    assert r.regime == ["diverging", "diverging"]


def test_period_doubling_on_a_double_well_reports_2_and_4_cycles():
    # GD on x^4 - 3x^2 + x from x0 = 0.5 settles on a 2-cycle at lr = 0.23 and a 4-cycle at 0.27
    f = lambda x: x**4 - 3 * x**2 + x
    lrs = torch.tensor([0.1, 0.23, 0.27], dtype=torch.float64)
    t = descend(f, torch.tensor([0.5], dtype=torch.float64), lrs, 3000)
    r = classify(t.cost, t.x, t.grad_norm, Tolerances())
    assert r.regime == ["converging", "oscillating", "oscillating"]
    assert r.period == [0, 2, 4]
    x = t.x[:, :, 0]
    assert torch.allclose(x[-1, 2], x[-5, 2]) and not torch.allclose(x[-1, 2], x[-3, 2])


# Objectives unbounded below along the path: the iterates run off while the cost falls.
RUNAWAY = [
    ("-x**2", lambda x: -coordinate_sum(x**2), [4.0], [0.01, 0.1], 50),
    ("x**3 past 0", lambda x: coordinate_sum(x**3), [-1.0], [0.01, 0.05], 40),
    ("saddle x0**2 - x1**2", lambda x: x[:, 0] ** 2 - x[:, 1] ** 2, [1.0, 1e-3], [0.1, 0.4], 100),
    ("-cosh(x)", lambda x: -coordinate_sum(torch.cosh(x)), [0.5], [0.1, 0.5], 60),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name,f,x0,lrs,steps", RUNAWAY, ids=[r[0] for r in RUNAWAY])
def test_iterates_that_run_away_are_diverging_even_while_the_cost_falls(name, f, x0, lrs, steps, dtype):
    t = descend(f, torch.tensor(x0, dtype=dtype), torch.tensor(lrs, dtype=dtype), steps)
    r = classify(t.cost, t.x, t.grad_norm, Tolerances())
    assert (t.cost[-1] < t.cost[0]).all()  # the cost fell all along...
    assert r.regime == ["diverging"] * len(lrs)  # ...and the point ran off
    assert r.converged == [False] * len(lrs) and all(rate > 1 for rate in r.rate)


def test_a_run_accelerating_into_a_well_is_not_a_runaway():
    # the double well from -0.5 crosses a concave stretch (steps grow) before it settles at -1.30
    f = lambda x: coordinate_sum(x**4 - 3 * x**2 + x)
    for steps in (150, 400, 3000):
        r = labels(f, [-0.5], [0.0003, 0.003], steps, torch.float64)
        assert r.regime == ["converging", "converging"], steps


def test_float32_run_stopped_at_its_minimum_by_rounding_is_converged():
    # lr·f'(x) rounds away at x* = -1.30084 while |f'| ≈ 5e-6 > grad_tol: the run sits still, converged
    f = lambda x: coordinate_sum(x**4 - 3 * x**2 + x)
    t = descend(f, torch.tensor([-0.5]), torch.tensor([0.01, 0.001]), 2000)
    r = classify(t.cost, t.x, t.grad_norm, Tolerances())
    assert (t.grad_norm[-1] > Tolerances().grad_tol).all() and (t.x[-40:] == t.x[-1]).all()
    assert r.regime == ["converging", "converging"] and r.converged == [True, True]
    assert all(rate < 1 for rate in r.rate)


def test_a_run_stuck_where_it_started_is_not_converged():
    # lr so small that lr·f'(x0) rounds away from the very first step: no progress, not a minimum
    r = labels(lambda x: x**2, [4.0], [1e-9], 100, torch.float32)
    assert (r.regime, r.converged) == (["converging"], [False])


def test_float32_run_hopping_across_its_minimum_by_rounding_is_converged():
    f = lambda x: coordinate_sum(x**4 - 3 * x**2 + x)
    r = labels(f, [0.5], [0.2, 0.21, 0.213], 3000, torch.float32)
    assert r.regime == ["converging"] * 3 and r.converged == [True] * 3 and r.path == ["zigzag"] * 3


def test_flat_minimum_converges_slowly_and_is_still_converging():
    # x**4 has zero curvature at 0: the cost creeps down at a rate just under 1, never "diverging"
    for dtype in (torch.float32, torch.float64):
        r = labels(lambda x: x**4, [2.0], [0.001, 0.01, 0.05], 5000, dtype)
        assert r.regime == ["converging"] * 3 and r.path == ["monotone"] * 3
        assert all(0.9 < rate < 1 for rate in r.rate)


def test_double_well_chaos_is_oscillating_period_0():
    r = labels(lambda x: x**4 - 3 * x**2 + x, [0.5], [0.3, 0.33], 3000, torch.float64)
    assert r.regime == ["oscillating", "oscillating"] and r.period == [0, 0]


def test_rate_is_at_most_1_on_converging_runs_once_they_are_in_their_well():
    r = labels(lambda x: x**4 - 3 * x**2 + x, [-0.5], [0.001, 0.01, 0.05, 0.1, 0.13], 3000, torch.float64)
    assert set(r.regime) == {"converging"} and all(rate <= 1 for rate in r.rate)


@pytest.mark.parametrize("name,f,x0,lrs,steps", RUNAWAY[:3], ids=[r[0] for r in RUNAWAY[:3]])
def test_runaway_and_settled_labels_are_the_same_from_a_streamed_tail(name, f, x0, lrs, steps):
    from gdsweep.core.scan import descend_tail

    lrs = [*lrs, 1e-9]
    x0, lr = torch.tensor(x0), torch.tensor(lrs)
    whole = descend(f, x0, lr, steps)
    full = classify(whole.cost, whole.x, whole.grad_norm, Tolerances())
    tail = descend_tail(f, x0, lr, steps, 8, Tolerances()).labels
    assert (tail.regime, tail.converged) == (full.regime, full.converged)


def _whole_run_votes(t, cost_tol):
    """The votes read from the whole trajectory at once, the plain way (rules 2 and the path)."""
    step = t.x[1:] - t.x[:-1]
    if step.shape[-1] == 1:  # the signs of the steps: two tiny steps must not multiply to 0
        turn = (step[1:].sign() * step[:-1].sign())[..., 0]
    else:
        turn = (step[1:].double() * step[:-1].double()).sum(-1).sign()
    change = t.cost[1:] - t.cost[:-1]
    rose = (change > cost_tol * (1 + t.cost[:-1].abs())).any(0)
    finite = t.cost.isfinite().all(0) & t.grad_norm.isfinite().all(0)
    return turn.sum(0).double(), (turn < 0).sum(0).double(), rose, finite


@pytest.mark.parametrize("retire", [False, True], ids=["every column", "stopped columns dropped"])
@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 1000])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_votes_counted_piece_by_piece_equal_the_whole_run_s_for_any_piece_size(chunk, dtype, retire):
    """Earlier, fed a run in pieces (seams included), counts exactly what the whole run holds:
    zigzags, momentum spirals (the cost rising), blow-ups to inf and nan, and a 2-D valley; also
    when the descent drops the columns it stopped (their counts are kept as they left them)."""
    from gdsweep.core import optimizers
    from gdsweep.core.descent import descend_in_chunks
    from gdsweep.core.earlier import Earlier
    from gdsweep.core.spec import OptimizerSpec

    cases = [
        (lambda x: x**2, [4.0], [0.1, 0.6, 0.99, 1.0, 1.2, 30.0], None),
        (lambda x: x**4 - 3 * x**2 + x, [0.5], [0.01, 0.3, 0.33, 5.0], None),
        (lambda x: (x * torch.tensor([1.0, 25.0], dtype=dtype) * x).sum(-1), [1.0, 1.0], [0.01, 0.039, 0.05], None),
        (lambda x: x**2, [4.0], [0.05, 0.3, 0.9], OptimizerSpec(name="momentum", momentum=0.9)),
    ]
    for f, x0, lrs, optimizer in cases:
        lr = torch.tensor(lrs, dtype=dtype)
        rule = optimizers.rule(optimizer, lr) if optimizer else None
        whole = descend(
            f, torch.tensor(x0, dtype=dtype), lr, 200, optimizers.rule(optimizer, lr) if optimizer else None
        )
        earlier = Earlier(1e-6)
        pieces = descend_in_chunks(f, torch.tensor(x0, dtype=dtype), lr, 200, chunk, rule, recycle=True, retire=retire)
        for piece in pieces:
            earlier.add(piece.x, piece.cost, piece.grad_norm, piece.columns)
        turns, reversals, rose, finite = _whole_run_votes(whole, 1e-6)
        assert torch.equal(earlier.finite, finite)
        assert torch.equal(earlier.turns[finite], turns[finite])  # only a finite run's votes are read
        assert torch.equal(earlier.reversals[finite], reversals[finite])
        assert torch.equal(earlier.rose[finite], rose[finite])
        grad_max = whole.grad_norm.amax(0).double()
        assert torch.equal(earlier.grad_max[finite], grad_max[finite])


def test_the_rise_shortcut_agrees_with_the_step_by_step_rule():
    """A column rises when some c_(k+1) - c_k > tol·(1 + |c_k|); the shortcut tests step by step
    only the columns whose largest change exceeds tol (the threshold's least value). Columns of
    every kind, with either sign: falling (never tested), a jump (tested: yes), and changes within
    rounding of the threshold at a small |c| after a large one (tested, both ways)."""
    from gdsweep.core.earlier import rising

    torch.manual_seed(0)
    tol, rows, width = 1e-6, 40, 3000
    for dtype in (torch.float32, torch.float64):
        scale = torch.logspace(-3, 6, width, dtype=dtype) * torch.randn(width, dtype=dtype).sign()
        down = torch.linspace(2, 1, rows, dtype=dtype)[:, None]
        falling = scale * torch.where(scale > 0, down, down.flip(0))
        jump = falling.clone()
        jump[rows // 2] += scale.abs()
        near = torch.empty(rows, width, dtype=dtype)
        near[0], near[1] = 1000 * scale, scale
        nudge = 1 + torch.randn(rows, width, dtype=dtype) * 1e-3
        nudge[:, ::2] = 1 - torch.rand(rows, width // 2, dtype=dtype) * 1e-3  # every other column never crosses
        for k in range(1, rows - 1):
            near[k + 1] = near[k] + tol * (1 + near[k].abs()) * nudge[k]
        cost = torch.cat([falling, jump, near], dim=1)
        reference = ((cost[1:] - cost[:-1]).sub_(cost[:-1].abs(), alpha=tol)).amax(0) > tol
        assert torch.equal(rising(cost, tol), reference)
        assert not reference[:width].any() and reference[width : 2 * width].all()
        assert 0 < reference[2 * width :].sum() < width  # the undecided columns go both ways


def test_a_turn_between_two_tiny_steps_still_counts():
    """Steps of 1e-30 and -1e-30 in float32 multiply to 0 (underflow), which would hide the
    turn; the rule reads the steps' signs, streamed or whole, in float32 or float64."""
    from gdsweep.core.earlier import Earlier

    hops = torch.tensor([1e-30, 2e-30, 1e-30, 2e-30, 1e-30, 2e-30, 1e-30])  # tiny steps, all turning back
    for dtype in (torch.float32, torch.float64):
        x = hops.to(dtype)[:, None, None]
        earlier = Earlier()
        earlier.add(x[:4], torch.zeros(4, 1, dtype=dtype), torch.zeros(4, 1, dtype=dtype))
        earlier.add(x[4:], torch.zeros(3, 1, dtype=dtype), torch.zeros(3, 1, dtype=dtype))
        assert earlier.turns.tolist() == [-5.0] and earlier.reversals.tolist() == [5.0]


@pytest.mark.parametrize("streamed", [False, True], ids=["whole run", "tail of a scan"])
def test_a_tail_at_rest_reads_as_the_rules_say(streamed):
    """Columns whose every row is the same (a scan's lrs that converged or blew up long before its
    tail) are labelled without being measured, as the rules read a constant tail: converging, and
    converged when the gradient is within grad_tol; diverging when not finite; no cycle, rate 0.
    Next to them a moving column keeps its own labels."""
    from gdsweep.core.earlier import Earlier

    x = torch.tensor([0.0, 1.0, 1.0, float("nan"), float("inf")]).expand(65, 5).clone()
    grad = torch.tensor([0.0, 1e-3, 1e-8, float("nan"), float("inf")]).expand(65, 5).clone()
    moving = descend(lambda x: x**2, torch.tensor([4.0]), torch.tensor([0.1]), 64)
    x = torch.cat([x, moving.x[:, :, 0]], 1).unsqueeze(-1)
    cost = torch.cat([x[:, :5, 0] ** 2, moving.cost], 1)
    grad = torch.cat([grad, moving.grad_norm], 1)
    earlier = None
    if streamed:
        earlier = Earlier(1e-6)
        earlier.add(x, cost, grad)
    got = classify(cost, x, grad, Tolerances(), earlier)
    assert got.regime == ["converging", "converging", "converging", "diverging", "diverging", "converging"]
    assert got.converged == [True, False, True, False, False, False]
    assert got.path == ["monotone", "monotone", "monotone", None, None, "monotone"]
    assert got.period == [0] * 6 and got.rate[:5] == [0.0] * 5
    assert got.rate[5] == pytest.approx(0.64, rel=1e-3)  # (1 - 2·0.1)² per step
