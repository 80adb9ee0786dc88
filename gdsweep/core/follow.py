"""What a run's labels and theory need, kept as its pieces stream by: memory bounded in N.

A long run is never held whole. `Follower` keeps the last `keep` rows (the tail the regime
rules read), the start point, and running statistics of everything before the tail
(`earlier.Earlier`: any non-finite value, the largest gradient, the zigzag and spiral votes),
plus the first step whose gradient norm reached the tolerance and the first step whose cost left
the floating-point range. A run of at most `keep` rows is kept whole and labelled exactly as a
whole trajectory; a longer one is labelled from its tail and the running statistics, as a scan
labels its lrs. How the labels are fed lives here; the rules themselves stay in `regimes`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gdsweep.core.descent import Trajectory
from gdsweep.core.earlier import Earlier
from gdsweep.core.regimes import Regimes, classify
from gdsweep.core.spec import Tolerances

TAIL_ELEMENTS = 1 << 24  # at most this many iterate values are kept, whatever N (64 MiB in float32)


def tail_rows(steps: int, batch: int, dim: int, longest: int = 4096) -> int:
    """Rows a run keeps for its labels: `longest` (4096), fewer when a row is large, never under 256."""
    return max(256, min(longest, TAIL_ELEMENTS // max(1, batch * dim)))


class Follower:
    """Fed every piece of a run in order (as descend_in_chunks yields them); reads the labels at the end."""

    def __init__(self, steps: int, keep: int, grad_tol: float) -> None:
        self.keep, self.grad_tol = keep, grad_tol
        self.whole = steps + 1 <= keep  # short runs: the whole trajectory, exactly as before
        self.earlier = Earlier()
        self.pieces: list[Trajectory] = []
        self.rows = 0
        self.start: Tensor | None = None  # x_0, (B, D)
        self.reached: int | None = None  # first step with grad_norm <= grad_tol (first lr)
        self.blown: int | None = None  # first step with a non-finite cost (first lr)

    def add(self, piece: Trajectory) -> None:
        if self.start is None:
            self.start = piece.x[0].clone()
        if not self.whole:
            self.earlier.add(piece.x, piece.cost, piece.grad_norm)
        self.pieces.append(piece)
        self.rows += piece.cost.shape[0]
        while len(self.pieces) > 1 and self.rows - self.pieces[0].cost.shape[0] >= self.keep:
            self.rows -= self.pieces.pop(0).cost.shape[0]
        if self.reached is None:
            self.reached = _first(piece.grad_norm[:, 0] <= self.grad_tol, piece.start)
        if self.blown is None:
            self.blown = _first(~torch.isfinite(piece.cost[:, 0]), piece.start)

    def tail(self) -> Trajectory:
        """The whole run (short runs) or its last `keep` rows."""
        joined = Trajectory.join(self.pieces)
        return joined if self.whole else joined.rows(max(0, joined.steps + 1 - self.keep))

    def labels(self, tol: Tolerances) -> tuple[Trajectory, Regimes]:
        tail = self.tail()
        return tail, classify(tail.cost, tail.x, tail.grad_norm, tol, None if self.whole else self.earlier)


def _first(flags: Tensor, start: int) -> int | None:
    found = flags.nonzero()
    return start + int(found[0]) if len(found) else None
