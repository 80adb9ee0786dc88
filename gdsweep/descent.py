"""The descent core: the article's autograd loop, batched over learning rates.

Pure torch (no Hydra, no MLflow): it takes an objective, a start point and a vector of
learning rates and returns tensors. Row b of every tensor belongs to lr[b], so one lr or
ten thousand run through the same code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

Objective = Callable[[Tensor], Tensor]
"""f maps points of shape (B, D) to costs of shape (B,) or (B, 1); rows must not interact.

A 1-D objective may return its (B, 1) column as it is: skipping a sum over one coordinate
keeps the article's one-node graph, and the backward pass is most of a step's cost.
"""


@dataclass(frozen=True)
class Trajectory:
    """What gradient descent visited, for steps k = 0..N (step 0 is the start point)."""

    lr: Tensor  # (B,)
    x: Tensor  # (N+1, B, D): the iterates x_k
    cost: Tensor  # (N+1, B): f(x_k)
    grad_norm: Tensor  # (N+1, B): ||grad f(x_k)||

    @property
    def steps(self) -> int:
        return self.cost.shape[0] - 1


def descend(f: Objective, x0: Tensor, lr: Tensor, steps: int) -> Trajectory:
    """Run `steps` steps of x <- x - lr * grad f(x) from x0 for every lr at once.

    x0 has shape (D,) or (B, D); lr has shape (B,). Each step is the article's loop done
    right: forward f(x), backward(), read x.grad, update under no_grad, clear the grad. The
    forward is recomputed every step (no retain_graph), and nothing syncs with the device
    inside the loop. After the last update one more forward/backward records f(x_N) and its
    gradient norm, so every series has N+1 points.
    """
    batch = lr.shape[0]
    x = x0.detach().to(lr.dtype).expand(batch, x0.shape[-1]).clone().requires_grad_(True)
    lr_column = lr.unsqueeze(-1)
    no_grad = torch.no_grad()
    seed = None  # d(sum of costs)/d(cost); with one lr torch makes it, skipping the shape checks
    xs, costs, grads = [], [], []
    for k in range(steps + 1):
        cost = f(x)
        if seed is None and batch > 1:
            seed = torch.ones_like(cost)
        cost.backward(seed)
        grad = x.grad
        x.grad = None  # zero the grad (set_to_none, as optimizer.zero_grad does)
        costs.append(cost.detach())
        grads.append(grad)  # a fresh tensor every step: no copy needed
        with no_grad:
            xs.append(x.clone())
            if k < steps:
                x.sub_(lr_column * grad)
    return Trajectory(
        lr=lr,
        x=torch.stack(xs),
        cost=torch.stack(costs).reshape(steps + 1, batch),
        grad_norm=torch.linalg.vector_norm(torch.stack(grads), dim=-1),
    )
