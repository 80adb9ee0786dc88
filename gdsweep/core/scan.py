"""Dense learning-rate scans and the stability-edge search, as batched descents.

A --multirun pays a Hydra job and an MLflow run per lr; here every lr is a row of one
tensor, so 10⁴ lrs cost about what one does. Only the last `tail` steps are kept (the
regime rules and the bifurcation diagram read those); what the labels need from earlier
steps is counted as the pieces go by (`regimes.Earlier`). Pure torch: no Hydra, no MLflow.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

import torch
from torch import Tensor

from gdsweep.core import optimizers
from gdsweep.core.descent import Objective, Trajectory, descend_in_chunks
from gdsweep.core.earlier import Earlier
from gdsweep.core.regimes import CONVERGING, MONOTONE, Regimes, classify
from gdsweep.core.spec import OptimizerSpec, ScanSpec, Tolerances
from gdsweep.errors import GdsweepError

Progress = Callable[[int], None]  # told the number of steps done so far
PIECE_NUMBERS = 320_000  # numbers per series in one batched piece: 32 steps of 10^4 lrs
CHUNK_RANGE = (8, 256)  # steps per piece, fewest and most


def chunk_steps(width: int) -> int:
    """Steps per batched piece for `width` numbers per step (lrs × coordinates).

    A piece is recorded into memory reused from piece to piece, then read by the labels' passes.
    Small pieces pay the per-piece calls more often; large ones no longer fit the core's cache
    (the record and the scratch of 32 steps of 10^4 float32 lrs take about 4 MiB, this machine's
    L2 on its 2 cores): 10^4 lrs ran fastest at 32 steps a piece (16 to 64 measured; 24 to 48
    within noise of it once stopped lrs leave the batch).
    """
    fewest, most = CHUNK_RANGE
    return max(fewest, min(most, PIECE_NUMBERS // max(1, width)))


def grid(lr_min: float, lr_max: float, num: int, spacing: str, dtype: torch.dtype, device: torch.device) -> Tensor:
    """num lrs from lr_min to lr_max, both included, evenly spaced on a log or linear axis."""
    if spacing == "log":
        return torch.logspace(math.log10(lr_min), math.log10(lr_max), num, dtype=torch.float64).to(dtype).to(device)
    return torch.linspace(lr_min, lr_max, num, dtype=torch.float64).to(dtype).to(device)


@dataclass(frozen=True)
class Scanned:
    """The labels of every lr and the tail they were read from."""

    tail: Trajectory  # the last `tail` steps (+1 row), start = N - tail
    labels: Regimes


def descend_tail(
    f: Objective,
    x0: Tensor,
    lr: Tensor,
    steps: int,
    keep: int,
    tol: Tolerances,
    progress: Progress | None = None,
    rule: optimizers.Rule | None = None,
    watch: Callable[[Trajectory], None] | None = None,
) -> Scanned:
    """Descend every lr for `steps` steps keeping the last `keep` (+1) rows, and label each lr.

    rule: the optimizer of every row (None: gradient descent), e.g. with one β per row for the
    lr × momentum map. `watch` sees every piece as it goes by (e.g. to note when each lr first
    reaches a tolerance); it must not keep the piece, whose memory the next one reuses. Once the
    descent has dropped the columns it stopped (`descend_in_chunks(retire=True)`), a piece holds
    only the others, at `piece.columns` of the batch."""
    earlier, tail = Earlier(tol.cost_tol), _Tail(lr, steps - keep, steps)
    chunk = chunk_steps(lr.shape[0] * x0.shape[-1])
    for piece in descend_in_chunks(f, x0, lr, steps, chunk, rule, recycle=True, retire=True):
        earlier.add(piece.x, piece.cost, piece.grad_norm, piece.columns)
        if watch:
            watch(piece)
        tail.add(piece)
        if progress:
            progress(piece.start + piece.steps)
    kept = tail.trajectory()
    return Scanned(kept, classify(kept.cost, kept.x, kept.grad_norm, tol, earlier))


class _Tail:
    """Rows `first`..`steps` of a scan for the whole batch, copied out of pieces (their memory is
    reused); a column the descent dropped (`retire`) repeats its last row."""

    def __init__(self, lr: Tensor, first: int, steps: int) -> None:
        self.lr, self.first, self.rows = lr, max(0, first), steps - max(0, first) + 1
        self.kept: list[Tensor] = []  # x, cost, grad_norm
        self.last: list[Tensor] = []  # every column's last row seen

    def add(self, piece: Trajectory) -> None:
        row = _series(piece.rows(piece.steps))
        if piece.columns is None:
            self.last = [v.clone() for v in row]
        else:
            for whole, part in zip(self.last, row):
                whole.index_copy_(1, piece.columns, part)
        if piece.start + piece.steps < self.first:
            return
        part = piece.rows(max(0, self.first - piece.start))
        if not self.kept:
            self.kept = [v.new_empty(self.rows, *v.shape[1:]) for v in self.last]
        at = part.start - self.first
        for whole, values, last in zip(self.kept, _series(part), self.last):
            rows = whole[at : at + len(values)]
            if part.columns is None:
                rows.copy_(values)
            else:  # the dropped columns' rows are their last, then the others' are written over
                rows.copy_(last.expand_as(rows)).index_copy_(1, part.columns, values)

    def trajectory(self) -> Trajectory:
        return Trajectory(self.lr, *self.kept, self.first)


def _series(piece: Trajectory) -> tuple[Tensor, Tensor, Tensor]:
    return piece.x, piece.cost, piece.grad_norm


@dataclass(frozen=True)
class Edge:
    """A boundary in lr, bracketed: the predicate holds at lo and fails at hi, (hi - lo) / lo <= rel_tol."""

    lo: float
    hi: float


@dataclass(frozen=True)
class EdgeSearch:
    """Both boundaries the edge search finds, and what it cost."""

    stable: Edge  # lo: the largest lr found that converges; hi: the smallest found that does not
    zigzag: Edge  # lo: the largest lr found with a monotone path; hi: the smallest that zigzags (or worse)
    rounds: int
    runs: int


def find_edges(
    f: Objective,
    x0: Tensor,
    spec: ScanSpec,
    steps: int,
    tol: Tolerances,
    dtype: torch.dtype,
    device: torch.device,
    optimizer: OptimizerSpec | None = None,
) -> EdgeSearch:
    """Bisect (in `spec.num`-way rounds, each one batched run) where convergence stops and where zigzag starts.

    The first round spreads spec.num lrs over [lr_min, lr_max]; each later round spreads them
    inside both brackets at once. A boundary is the first lr, going up, where its predicate
    fails: on functions where convergence comes back at larger lrs this finds the lowest edge.
    Raises GdsweepError when lr_min does not converge monotonically or lr_max still converges.
    `optimizer` (default gd) is the update every run uses.
    """
    optimizer = optimizer or OptimizerSpec()
    predicates = (converges, converges_monotonically)
    lrs = grid(spec.lr_min, spec.lr_max, spec.num, spec.spacing, torch.float64, torch.device("cpu"))
    brackets = [
        _first_failure(lrs, p(_labels(f, x0, lrs, steps, spec, tol, dtype, device, optimizer))) for p in predicates
    ]
    rounds, runs = 1, spec.num
    while any(b.hi - b.lo > spec.rel_tol * b.lo for b in brackets):
        inner = [
            grid(b.lo, b.hi, spec.num + 2, spec.spacing, torch.float64, torch.device("cpu"))[1:-1] for b in brackets
        ]
        labels = _labels(f, x0, torch.cat(inner), steps, spec, tol, dtype, device, optimizer)
        split = [labels[: spec.num], labels[spec.num :]]
        brackets = [
            _narrow(b, lrs_in, p(part)) for b, lrs_in, p, part in zip(brackets, inner, predicates, split, strict=True)
        ]
        rounds, runs = rounds + 1, runs + 2 * spec.num
    return EdgeSearch(brackets[0], brackets[1], rounds, runs)


def _labels(f, x0, lrs, steps, spec, tol, dtype, device, optimizer) -> list[tuple[str, str | None]]:
    lrs = lrs.to(dtype).to(device)
    scanned = descend_tail(f, x0, lrs, steps, min(spec.tail, steps), tol, rule=optimizers.rule(optimizer, lrs))
    return list(zip(scanned.labels.regime, scanned.labels.path))


def converges(labels: list[tuple[str, str | None]]) -> list[bool]:
    """Per (regime, path) pair: does the run converge?"""
    return [regime == CONVERGING for regime, _ in labels]


def converges_monotonically(labels: list[tuple[str, str | None]]) -> list[bool]:
    """Per (regime, path) pair: does the run converge without a zigzag?"""
    return [regime == CONVERGING and path == MONOTONE for regime, path in labels]


def _first_failure(lrs: Tensor, holds: list[bool]) -> Edge:
    """The bracket around the first lr of the grid where the predicate fails."""
    if not holds[0]:
        raise GdsweepError(
            "scan.lr_min", f"{lrs[0].item():g} does not converge monotonically", "lower it, e.g. scan.lr_min=1e-4"
        )
    if holds[-1]:
        raise GdsweepError(
            "scan.lr_max", f"{lrs[-1].item():g} still converges", f"raise it, e.g. scan.lr_max={10 * lrs[-1].item():g}"
        )
    first = holds.index(False)
    return Edge(lrs[first - 1].item(), lrs[first].item())


def _narrow(bracket: Edge, inner: Tensor, holds: list[bool]) -> Edge:
    """The sub-bracket of the first failure among lo < inner... < hi (lo holds, hi fails)."""
    points = [bracket.lo, *inner.tolist(), bracket.hi]
    first = ([*holds, False]).index(False)
    return Edge(points[first], points[first + 1])


class ProgressBar:
    """`scan: [#####     ] 512/1000 steps  1.2 s` on stderr, redrawn at most ten times a second.

    Shown only on a terminal (or when forced), so logs and tests stay clean.
    """

    WIDTH = 30

    def __init__(self, total: int, stream: TextIO = sys.stderr, force: bool = False) -> None:
        self.total, self.stream = total, stream
        self.enabled = force or stream.isatty()
        self.started = self._drawn = time.monotonic()

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self._drawn < 0.1 and done < self.total):
            return
        self._drawn = now
        filled = self.WIDTH * done // self.total
        bar = "#" * filled + " " * (self.WIDTH - filled)
        end = "\n" if done >= self.total else ""
        self.stream.write(f"\rscan: [{bar}] {done}/{self.total} steps  {now - self.started:.1f} s{end}")
        self.stream.flush()
