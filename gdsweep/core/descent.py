"""The descent core: the article's autograd loop, batched over learning rates.

Pure torch (no Hydra, no MLflow): it takes an objective, a start point and a vector of
learning rates and returns tensors. Row b of every tensor belongs to lr[b], so one lr or
ten thousand run through the same code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from gdsweep.core.optimizers import Rule

RETIRE = 16  # retire: the batch drops its stopped columns once they are at least 1/RETIRE of it
WIDE = 4096  # lrs × coordinates from which a step's record goes into preallocated buffers (_Buffers)
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
    columns: Tensor | None = None  # where in the whole batch these columns are; None: all of it (retire)

    @property
    def steps(self) -> int:
        return self.cost.shape[0] - 1

    def rows(self, first: int) -> Trajectory:
        """The rows from `first` on, as the piece of the run they are."""
        return replace(
            self, x=self.x[first:], cost=self.cost[first:], grad_norm=self.grad_norm[first:], start=self.start + first
        )

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
    return next(descend_in_chunks(f, x0, lr, steps, steps + 1, rule))


def descend_in_chunks(
    f: Objective,
    x0: Tensor,
    lr: Tensor,
    steps: int,
    chunk: int,
    rule: Rule | None = None,
    recycle: bool = False,
    retire: bool = False,
) -> Iterator[Trajectory]:
    """The same descent as `descend`, handed over at most `chunk` (>= 1) steps at a time.

    A caller can log (or drop) each piece before the next one is computed: a long run is
    flushed as it goes, and a scan keeps only the tail it needs. The first piece holds steps
    0..chunk, each later one the next `chunk` steps (it continues from the previous piece's
    last row). It is one loop: every point is evaluated once, whatever the chunk, and a
    `rule` carries its state (momentum buffer, Adam's moments and step count) straight on.

    recycle: every piece of a wide batch is recorded into the same memory, so a piece is valid
    until the next one is asked for (clone what must outlive it): no buffers are made, and first
    touched, once per piece.

    retire (plain gradient descent, no `rule`): a column whose last step left x exactly as it was
    (every coordinate the same value, or nan again) repeats that step for ever: x_(k+1) = x_k
    gives the same gradient, so the same x_(k+2). Once at least 1/RETIRE of the batch has
    stopped (looked at when a piece ends), the batch drops those columns: later pieces hold the
    columns still moving, `Trajectory.columns` saying where they sit in the whole batch, and a
    dropped column's later rows are all its last one. Every value computed is one the whole batch
    computes (but that an elementwise kernel may round a column differently at another place in
    the batch, as it may in another grid).
    """
    retire = retire and rule is None
    batch, dim = lr.shape[0], x0.shape[-1]
    x = x0.detach().to(lr.dtype).expand(batch, dim).clone().requires_grad_(True)
    lr_column = lr.unsqueeze(-1)
    no_grad = torch.no_grad()
    seed = None  # d(sum of costs)/d(cost); with one lr torch makes it, skipping the shape checks
    start, rows, record = 0, min(chunk, steps) + 1, None  # the piece being recorded: its first step, its length
    buffers = columns = None
    for k in range(steps + 1):
        cost = f(x)
        if seed is None and batch != 1:
            seed = torch.ones_like(cost)
        cost.backward(seed)
        grad = x.grad
        x.grad = None  # zero the grad (set_to_none, as optimizer.zero_grad does)
        with no_grad:
            if record is None and batch * dim >= WIDE:
                if not (recycle and buffers and buffers.x.shape[1] == batch):
                    buffers = _Buffers(min(chunk, steps) + 1, cost, grad, x, buffers if recycle else None)
                record = buffers.reset(rows)
            elif record is None:
                record = _Stacked()
            record.add(cost, grad, x)
            if k < steps:
                if rule is None:
                    x.sub_(lr_column * grad)  # the update
                else:
                    rule.step(x, grad)
        if k == start + rows - 1:
            piece = record.trajectory(lr, start)
            yield piece if columns is None else replace(piece, columns=columns)
            moving = _moving(piece.x) if retire and k < steps and len(piece.x) > 1 else None
            if moving is not None and batch and len(moving) * RETIRE <= (RETIRE - 1) * batch:
                columns = moving if columns is None else columns[moving]
                x, lr = x.detach()[moving].requires_grad_(True), lr[moving]
                batch, lr_column, seed = len(lr), lr.unsqueeze(-1), None
            start, rows, record = k + 1, min(chunk, steps - k), None


def _room(old: Tensor | None, shape: tuple[int, ...], like: Tensor) -> Tensor:
    """An uninitialised tensor of `shape`, dtype and device of `like`: the front of `old` (contiguous)
    where it is large enough and of that dtype and device (memory already made and touched), else new."""
    size = math.prod(shape)
    if old is not None and old.numel() >= size and old.dtype == like.dtype and old.device == like.device:
        return old.view(-1)[:size].view(shape)
    return like.new_empty(shape)


def _moving(x: Tensor) -> Tensor:
    """The columns of rows x (K, B, D) whose last step moved x: some coordinate changed (nan to nan is no change)."""
    last, before = x[-1], x[-2]
    return ((last != before) & ~(last.isnan() & before.isnan())).any(-1).nonzero()[:, 0]


class _Buffers:
    """A piece's record for many lrs (or a large point): each step copies into row views of
    buffers made once per piece, so nothing is allocated per step or stacked at the end (for
    10^4 lrs per-step clones and a final stack cost about as much as the descent)."""

    def __init__(self, rows: int, cost: Tensor, grad: Tensor, x: Tensor, old: _Buffers | None = None) -> None:
        """old: the buffers of a wider batch (before `retire` dropped columns), whose memory is reused."""
        self.one = x.shape[-1] == 1  # one coordinate: ‖g‖ is |g|, exactly, shaped like g
        self.x = _room(old and old.x, (rows, *x.shape), x)
        self.cost = _room(old and old.cost, (rows, *cost.shape), cost)
        self.norm = _room(old and old.norm, (rows, *(grad.shape if self.one else grad.shape[:-1])), grad)
        self.rows = list(zip(self.cost.unbind(0), self.norm.unbind(0), self.x.unbind(0), strict=True))
        self.k = self.used = 0

    def reset(self, rows: int) -> _Buffers:
        """Record a new piece of `rows` steps from the first row on."""
        self.k, self.used = 0, rows
        return self

    def add(self, cost: Tensor, grad: Tensor, x: Tensor) -> None:
        cost_row, norm_row, x_row = self.rows[self.k]
        cost_row.copy_(cost)
        if self.one:
            torch.abs(grad, out=norm_row)
        else:
            torch.linalg.vector_norm(grad, dim=-1, out=norm_row)
        x_row.copy_(x)
        self.k += 1

    def trajectory(self, lr: Tensor, start: int) -> Trajectory:
        batch, used = lr.shape[0], self.used
        return Trajectory(
            lr, self.x[:used], self.cost[:used].reshape(-1, batch), self.norm[:used].reshape(-1, batch), start
        )


class _Stacked:
    """A piece's record for one small row: appending the step's own tensors and stacking them
    once per piece is cheaper than indexing into buffers."""

    def __init__(self) -> None:
        self.x: list[Tensor] = []
        self.cost: list[Tensor] = []
        self.grad: list[Tensor] = []

    def add(self, cost: Tensor, grad: Tensor, x: Tensor) -> None:
        self.cost.append(cost.detach())
        self.grad.append(grad)  # a fresh tensor every step: no copy needed
        self.x.append(x.clone())

    def trajectory(self, lr: Tensor, start: int) -> Trajectory:
        cost = torch.stack(self.cost).reshape(len(self.cost), lr.shape[0])
        return Trajectory(
            lr, torch.stack(self.x), cost, torch.linalg.vector_norm(torch.stack(self.grad), dim=-1), start
        )
