"""Which steps of a long run go into its MLflow metric histories (the table artifact keeps them all).

The rule is fixed by N and `tracking.max_points` before the run starts, so it can be applied
chunk by chunk as the run streams: steps 0, 1, 2, … up to 1/20 of the budget (the start of the path,
which the figures draw), step N, an even spread over 0..N and a logarithmic spread from there to N
(dense early, where a descent changes fastest), plus the first step where
a value became non-finite and the step before it, wherever that turns out to be. A run stopped
early also logs the last step it computed. Every series gets the same steps, so the series of
one run line up; at most `max_points` points per series. numpy only: no MLflow here.
"""

from __future__ import annotations

import numpy as np

RESERVED = 3  # the step before a blow-up, the blow-up itself, and the last step of a stopped run


def kept_steps(n: int, max_points: int | None) -> np.ndarray | None:
    """The steps of 0..n planned for the histories, sorted; None when every step fits (or 0/None)."""
    if not max_points or n + 1 <= max_points:
        return None
    budget = max_points - RESERVED - 1  # n is added on top
    head = max(1, budget // 20)  # steps 0, 1, 2, ... : the start of the path, as the figures draw it
    budget -= head
    even = np.linspace(0, n, budget // 2).round()
    spread = np.geomspace(head, n, budget - budget // 2).round()
    return np.unique(np.concatenate([np.arange(head), even, spread, [n]]).astype(np.int64))


class Thinner:
    """Applies kept_steps to consecutive chunks: which rows of each chunk to log.

    `select(first, finite)` takes the step number of a chunk's first row and whether each row is
    finite, and returns the row indices to log from this chunk, plus whether the previous chunk's
    last row must be logged too (the step before a blow-up that starts a chunk).
    """

    def __init__(self, n: int, max_points: int | None) -> None:
        self.plan = kept_steps(n, max_points)
        self.blown: int | None = None  # the first step with a non-finite value
        self.last_logged = -1

    @property
    def thinned(self) -> bool:
        return self.plan is not None

    def select(self, first: int, finite: np.ndarray) -> tuple[np.ndarray, bool]:
        rows = len(finite)
        if self.plan is None:
            chosen = np.arange(rows)
        else:
            lo, hi = np.searchsorted(self.plan, [first, first + rows])
            chosen = self.plan[lo:hi] - first
        previous = False
        if self.blown is None and not finite.all():
            row = int(np.argmin(finite))
            self.blown = first + row
            extra = [row] + ([row - 1] if row > 0 else [])
            previous = row == 0 and first > 0 and self.last_logged < first - 1
            chosen = np.union1d(chosen, extra).astype(np.int64)
        if len(chosen):
            self.last_logged = max(self.last_logged, first + int(chosen[-1]))
        return chosen, previous
