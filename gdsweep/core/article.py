"""The seed article's loop as published: the reference gdsweep reproduces and is timed against.

It keeps one graph and calls backward(retain_graph=True) on it every step, writing through
`x.data`; that only works because x**2's backward reads the mutated x. gdsweep's descent core
does the same arithmetic the supported way, and the tests check the two agree bit for bit.
"""

from __future__ import annotations

import torch


def article_loop(N: int = 9, lr: float = 0.1, x0: float = 4.0) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Return the costs after steps 1..N and the final x, computed as the article does."""
    x = torch.tensor(x0, requires_grad=True)
    y_fn = lambda x: x**2
    y = y_fn(x)
    cost_value = []
    for _ in range(N):
        y.backward(retain_graph=True)
        grad = x.grad.data
        x.data = x.data - lr * grad
        x.grad.data.zero_()
        cost_value.append(y_fn(x.data))
    return cost_value, x.data
