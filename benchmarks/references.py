"""The bare loops gdsweep is timed against: the same arithmetic with nothing recorded or logged."""

from __future__ import annotations

import torch


def bare_loop(steps: int, lr: float = 0.01) -> torch.Tensor:
    """The bare scalar autograd step: y = x**2; y.backward(); x -= lr*x.grad; x.grad = None."""
    x = torch.tensor(4.0, requires_grad=True)
    for _ in range(steps):
        y = x**2
        y.backward()
        with torch.no_grad():
            x -= lr * x.grad
        x.grad = None
    return x


def bare_batched_loop(lrs: torch.Tensor, steps: int) -> torch.Tensor:
    """The same arithmetic as a scan with nothing kept: forward, backward, update, for every lr at once."""
    x = torch.full((lrs.shape[0], 1), 4.0, dtype=lrs.dtype).requires_grad_(True)
    column, seed = lrs.unsqueeze(-1), None
    for k in range(steps + 1):
        cost = x**2
        seed = torch.ones_like(cost) if seed is None else seed
        cost.backward(seed)
        with torch.no_grad():
            if k < steps:
                x.sub_(column * x.grad)
        x.grad = None
    return x
