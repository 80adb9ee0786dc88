"""Momentum, Nesterov and Adam: torch.optim's own arithmetic, batched over rows, carried across chunks."""

import pytest
import torch

from gdsweep.core import optimizers
from gdsweep.core.descent import Trajectory, descend, descend_in_chunks
from gdsweep.core.spec import OptimizerSpec
from gdsweep.objectives.functions import coordinate_sum

wavy = lambda x: coordinate_sum(x**2 + torch.sin(3 * x))  # non-quadratic: the gradient changes shape
X0 = [1.3, -0.7, 2.1]
SPECS = {
    "momentum": (OptimizerSpec("momentum", momentum=0.9), lambda p, lr: torch.optim.SGD(p, lr, momentum=0.9)),
    "nesterov": (
        OptimizerSpec("nesterov", momentum=0.8),
        lambda p, lr: torch.optim.SGD(p, lr, momentum=0.8, nesterov=True),
    ),
    "adam": (
        OptimizerSpec("adam", betas=(0.8, 0.99), eps=1e-6),
        lambda p, lr: torch.optim.Adam(p, lr, (0.8, 0.99), 1e-6),
    ),
}


def torch_optim_path(make, lr: float, steps: int) -> torch.Tensor:
    p = torch.tensor(X0, dtype=torch.float64, requires_grad=True)
    optimizer, xs = make([p], lr), [p.detach().clone()]
    for _ in range(steps):
        optimizer.zero_grad()
        wavy(p.unsqueeze(0)).sum().backward()
        optimizer.step()
        xs.append(p.detach().clone())
    return torch.stack(xs)


@pytest.mark.parametrize("name", SPECS)
@pytest.mark.parametrize("lr", [0.01, 0.3])
def test_every_step_is_bitwise_torch_optim_in_float64(name, lr):
    spec, make = SPECS[name]
    lrs = torch.tensor([lr], dtype=torch.float64)
    ours = descend(wavy, torch.tensor(X0, dtype=torch.float64), lrs, 150, optimizers.rule(spec, lrs))
    assert torch.equal(ours.x[:, 0], torch_optim_path(make, lr, 150))


def test_gd_is_the_articles_update_untouched():
    assert optimizers.rule(OptimizerSpec("gd"), torch.tensor([0.1])) is None


@pytest.mark.parametrize("name", SPECS)
def test_a_batch_of_lrs_and_momenta_equals_one_run_per_row(name):
    spec, _ = SPECS[name]
    lrs = torch.tensor([0.01, 0.1, 0.3, 0.5, 0.05, 0.2], dtype=torch.float64)
    momenta = torch.tensor([0.0, 0.5, 0.9, 0.99, 0.3, 0.7], dtype=torch.float64)
    x0 = torch.tensor(X0, dtype=torch.float64)
    batched = descend(wavy, x0, lrs, 60, optimizers.rule(spec, lrs, momenta))
    for b in range(len(lrs)):
        one = descend(wavy, x0, lrs[b : b + 1], 60, optimizers.rule(spec, lrs[b : b + 1], momenta[b : b + 1]))
        assert torch.equal(batched.x[:, b], one.x[:, 0])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("chunk", [1, 7, 50])
@pytest.mark.parametrize("name", SPECS)
def test_chunks_carry_the_optimizer_state_bitwise(name, chunk, dtype):
    spec, _ = SPECS[name]
    lrs, x0 = torch.tensor([0.01, 0.2, 0.45, 1.5], dtype=dtype), torch.tensor(X0, dtype=dtype)
    whole = descend(wavy, x0, lrs, 120, optimizers.rule(spec, lrs))
    joined = Trajectory.join(list(descend_in_chunks(wavy, x0, lrs, 120, chunk, optimizers.rule(spec, lrs))))
    for got, want in [(joined.x, whole.x), (joined.cost, whole.cost), (joined.grad_norm, whole.grad_norm)]:
        torch.testing.assert_close(got, want, rtol=0, atol=0, equal_nan=True)
