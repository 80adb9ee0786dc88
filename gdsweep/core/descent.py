"""The descent core: the article's autograd loop, batched over learning rates.

Pure torch (no Hydra, no MLflow): it takes an objective, a start point and a vector of
learning rates and returns tensors. Row b of every tensor belongs to lr[b], so one lr or
ten thousand run through the same code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from gdsweep.core.optimizers import Rule

WIDE = 4096  # lrs × coordinates from which a step's record goes into preallocated buffers
Objective = Callable[[Tensor], Tensor]
"""f maps points of shape (B, D) to costs of shape (B,) or (B, 1); rows must not interact.

A 1-D objective may return its (B, 1) column as it is: skipping a sum over one coordinate
keeps the article's one-node graph, and the backward pass is most of a step's cost.
"""


@dataclass(frozen=True)
class Trajectory:
    """What gradient descent visited, for steps k = start..start+N (row 0 is step `start`)."""

    lr: Tensor  # (B,)
    x: Tensor  # (N+1, B, D): the iterates x_k
    cost: Tensor  # (N+1, B): f(x_k)
    grad_norm: Tensor  # (N+1, B): ||grad f(x_k)||
    start: int = 0  # the step number of row 0: 0 for a whole run, later for a piece of one

    @property
    def steps(self) -> int:
        return self.cost.shape[0] - 1

    def rows(self, first: int) -> Trajectory:
        """The rows from `first` on, as the piece of the run they are."""
        return Trajectory(self.lr, self.x[first:], self.cost[first:], self.grad_norm[first:], self.start + first)

    @staticmethod
    def join(pieces: Sequence[Trajectory]) -> Trajectory:
        """Consecutive pieces (as descend_in_chunks yields them) as one trajectory."""
        return Trajectory(
            pieces[0].lr,
            torch.cat([p.x for p in pieces]),
            torch.cat([p.cost for p in pieces]),
            torch.cat([p.grad_norm for p in pieces]),
            pieces[0].start,
        )


def descend(f: Objective, x0: Tensor, lr: Tensor, steps: int, rule: Rule | None = None) -> Trajectory:
    """Run `steps` steps of x <- x - lr * grad f(x) from x0 for every lr at once.

    x0 has shape (D,) or (B, D); lr has shape (B,). Each step is the article's loop done
    right: forward f(x), backward(), read x.grad, update under no_grad, clear the grad. The
    forward is recomputed every step (no retain_graph), and nothing syncs with the device
    inside the loop. After the last update one more forward/backward records f(x_N) and its
    gradient norm, so every series has N+1 points.

    rule: another update (momentum, Nesterov, Adam; `optimizers.rule`) in place of
    x <- x - lr * grad; it keeps its state, so a later call continues where this one stopped.
    """
    batch, dim = lr.shape[0], x0.shape[-1]
    x = x0.detach().to(lr.dtype).expand(batch, dim).clone().requires_grad_(True)
    lr_column = lr.unsqueeze(-1)
    no_grad = torch.no_grad()
    seed = None  # d(sum of costs)/d(cost); with one lr torch makes it, skipping the shape checks
    # Many lrs (or a large point): the record goes into buffers made once per call, so no tensor
    # is allocated and kept per step and nothing is stacked at the end (for 10^4 lrs per-step
    # clones and a final stack cost about as much as the descent). One small row: appending the
    # step's own tensors and stacking once per call is cheaper than indexing into buffers.
    wide = batch * dim >= WIDE
    if wide:
        options = {"dtype": lr.dtype, "device": lr.device}
        xs, costs, grads = (torch.empty(steps + 1, batch, *rest, **options) for rest in ((dim,), (), (dim,)))
    else:
        xs, costs, grads = [], [], []
    for k in range(steps + 1):
        cost = f(x)
        if seed is None and batch > 1:
            seed = torch.ones_like(cost)
        cost.backward(seed)
        grad = x.grad
        x.grad = None  # zero the grad (set_to_none, as optimizer.zero_grad does)
        with no_grad:
            if wide:
                costs[k], grads[k], xs[k] = cost.reshape(batch), grad, x
            else:
                costs.append(cost.detach())
                grads.append(grad)  # a fresh tensor every step: no copy needed
                xs.append(x.clone())
            if k < steps:
                if rule is None:
                    x.sub_(lr_column * grad)  # the update
                else:
                    rule.step(x, grad)
    if not wide:
        xs, costs, grads = torch.stack(xs), torch.stack(costs).reshape(steps + 1, batch), torch.stack(grads)
    return Trajectory(lr=lr, x=xs, cost=costs, grad_norm=torch.linalg.vector_norm(grads, dim=-1))


def descend_in_chunks(
    f: Objective, x0: Tensor, lr: Tensor, steps: int, chunk: int, rule: Rule | None = None
) -> Iterator[Trajectory]:
    """The same descent as `descend`, handed over at most `chunk` steps at a time.

    A caller can log (or drop) each piece before the next one is computed: a long run is
    flushed as it goes, and a scan keeps only the tail it needs. Each piece continues from
    the last iterate of the one before, which gives bitwise the same iterates as one call;
    pieces after the first leave out their start point, the previous piece's last row.
    A `rule` carries its state (momentum buffer, Adam's moments and step count) from piece to piece.
    """
    done, x = 0, x0
    while True:
        size = min(chunk, steps - done)
        piece = descend(f, x, lr, size, rule)
        placed = Trajectory(lr, piece.x, piece.cost, piece.grad_norm, done)
        yield placed if done == 0 else placed.rows(1)
        done += size
        if done >= steps:
            return
        x = piece.x[-1]
