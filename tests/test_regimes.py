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
