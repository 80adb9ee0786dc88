"""Momentum, Nesterov and Adam against their theory on quadratics: edges, spirals, cycles."""

import pytest
import torch

from gdsweep.core import optimizers, theory
from gdsweep.core.descent import descend
from gdsweep.core.regimes import classify
from gdsweep.core.spec import OptimizerSpec, Tolerances

SQUARE = lambda x: x**2  # λmax = 2


def run(name, lrs, steps, beta=0.9, dtype=torch.float64, x0=4.0):
    spec = OptimizerSpec(name, momentum=beta)
    lr = torch.tensor(lrs, dtype=dtype)
    t = descend(SQUARE, torch.tensor([x0], dtype=dtype), lr, steps, optimizers.rule(spec, lr))
    return t, classify(t.cost, t.x, t.grad_norm, Tolerances())


@pytest.mark.parametrize(
    "name,beta,edge",
    [("momentum", 0.9, 1.9), ("momentum", 0.5, 1.5), ("nesterov", 0.9, 0.678571), ("nesterov", 0.5, 0.75)],
)
def test_the_edge_is_the_optimizers_formula(name, beta, edge):
    assert theory.edge_factor(OptimizerSpec(name, momentum=beta)) / 2 == pytest.approx(edge, rel=1e-6)
    _, labels = run(name, [0.995 * edge, 1.005 * edge], 3000, beta)
    assert labels.regime == ["converging", "diverging"]


@pytest.mark.parametrize("name", ["momentum", "nesterov"])
@pytest.mark.parametrize("steps", [100, 1000])
def test_observed_regime_and_path_agree_with_the_two_step_recursion(name, steps):
    spec = OptimizerSpec(name, momentum=0.9)
    edge = theory.edge_factor(spec) / 2
    fractions = [0.0002, 0.01, 0.1, 0.3, 0.6, 0.9, 1.0, 1.02, 1.5]
    lrs = [f * edge for f in fractions]
    _, labels = run(name, lrs, steps)
    predicted = [theory.predicted_regime(lr, 2.0, spec) for lr in lrs]
    observed = [path if regime == "converging" else regime for regime, path in zip(labels.regime, labels.path)]
    assert observed == predicted
    assert {"monotone", "spiral", "oscillating", "diverging"} <= set(predicted)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_an_underdamped_momentum_run_spiralling_in_is_converging_not_oscillating(dtype):
    # lr = 0.5, β = 0.9 on x²: β > (1 − √(lr·λ))² = 0, complex roots of modulus √0.9: the cost goes up and down
    t, labels = run("momentum", [0.5], 9, dtype=dtype)
    cost = t.cost[:, 0]
    assert (cost[1:] > cost[:-1]).any()  # not a falling cost...
    assert (labels.regime, labels.path) == (["converging"], ["spiral"])  # ...but spiralling in


def test_a_momentum_run_on_its_edge_is_a_two_cycle():
    _, labels = run("momentum", [1.9], 400)  # roots −1 and −0.9: a 2-cycle once the −0.9 mode has died
    assert labels.regime == ["oscillating"] and labels.period == [2]


def test_adam_settles_into_an_lr_sized_bounded_oscillation():
    # Adam's v̂ forgets slower than m: near the minimum the step stays about lr in size instead of
    # shrinking with the gradient, and the run swings around 0 with an amplitude of the order of lr.
    t, labels = run("adam", [1.0], 5000)
    tail = t.x[-500:, 0, 0].abs().max().item()
    assert labels.regime == ["oscillating"] and 0.05 < tail < 2.0
