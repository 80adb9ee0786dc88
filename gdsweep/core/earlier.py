"""What the regime labels need from the steps a caller did not keep (a scan keeps only a tail).

A scan of 10^4 lrs keeps the last few dozen steps of each; the rules that read the whole run
(anything non-finite, the largest gradient, the zigzag and spiral votes) are counted here as the
pieces go by, in a few passes per piece, so memory does not grow with N. Pure torch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


class Earlier:
    """What the labels need from steps a caller did not keep (a scan keeps only a tail).

    Fed every piece of a run in order; classify then reads whether any value was non-finite, the
    largest gradient, and the zigzag and spiral votes over the whole run, not just over the tail.
    """

    def __init__(self, cost_tol: float = 1e-6) -> None:
        self.cost_tol = cost_tol
        self.start_norm: Tensor | None = None  # (B,) ‖x_0‖
        self.columns: Tensor | None = None  # where in the batch the columns still fed are (None: all of it)
        # per column still fed: largest cost, smallest cost, largest ‖grad‖ (nan and inf stay);
        # Σ sign(step_k · step_(k-1)) (< 0 when most steps reverse); how many consecutive steps
        # pointed back; whether some step raised the cost by more than rounding
        self._counts: list[Tensor] = []
        self._dropped: list[Tensor] | None = None  # the same for the whole batch, as the dropped columns left them
        self._last: tuple[Tensor, Tensor, Tensor] | None = None  # the last x and cost seen, the last direction
        self._scratch: dict[tuple[str, torch.dtype], Tensor] = {}

    @property
    def finite(self) -> Tensor:
        """(B,) every cost and gradient so far finite (a non-finite x shows in both)."""
        high, low, grad = self._whole(0), self._whole(1), self._whole(2)
        return high.isfinite() & low.isfinite() & grad.isfinite()

    @property
    def grad_max(self) -> Tensor:
        """(B,) float64, the largest gradient norm so far (read only where finite)."""
        return self._whole(2).double()

    @property
    def turns(self) -> Tensor:
        """(B,) Σ sign(step_k · step_(k-1)) over the run: < 0 when most consecutive steps point back."""
        return self._whole(3)

    @property
    def reversals(self) -> Tensor:
        """(B,) how many consecutive steps pointed back."""
        return self._whole(4)

    @property
    def rose(self) -> Tensor:
        """(B,) some step raised the cost by more than rounding (`rising`)."""
        return self._whole(5)

    def add(self, x: Tensor, cost: Tensor, grad_norm: Tensor, columns: Tensor | None = None) -> None:
        """One piece: rows of x (K, B, D), cost and grad_norm (K, B) that follow the previous piece.

        In the piece's own dtype and device, one pass per statistic into scratch memory made once.
        Maxima and minima carry any nan or inf. The seam with the previous piece rides along in
        the same passes: the step and cost change across it go in front of the piece's own.
        columns: where in the batch this piece's columns are (ascending), when the descent has
        dropped some (`descend_in_chunks(retire=True)`): the dropped ones keep what they counted.
        The first piece covers the whole batch.
        """
        if columns is not None and self._counts and len(columns) != len(self._counts[0]):
            self._narrow(columns)
        extremes = [cost.amax(0), cost.amin(0), grad_norm.amax(0)]
        if self._last is None:
            self.start_norm = torch.linalg.vector_norm(x[0].double(), dim=-1)
            zeros = torch.zeros(cost.shape[1], dtype=torch.float64, device=cost.device)
            self._counts = [*extremes, zeros, zeros.clone(), zeros.bool()]
        else:
            for pick, kept, new in zip((torch.maximum, torch.minimum, torch.maximum), self._counts, extremes):
                pick(kept, new, out=kept)
        heading = self._headings(x)
        self._vote(turn_signs(heading[1:], heading[:-1], self._buffer("scratch", len(x), cost[0], heading.dtype)))
        self._rise(cost)
        self._last = (x[-1].clone(), cost[-1].clone(), heading[-1])

    def _headings(self, x: Tensor) -> Tensor:
        """Rows of directions (`direction`): the previous piece's last step, the step across the seam
        (from its last x to this piece's first), then this piece's own steps."""
        one = x.shape[-1] == 1
        heading = self._buffer("heading", len(x) + 1, x[0], x.dtype if one else torch.float64)
        if self._last is None:  # nothing before: zero directions, which vote neither way
            heading[:2].zero_()
        else:
            last_x, _, last_heading = self._last
            # last_heading is a view of the previous piece's scratch row: read it before it is overwritten
            heading[0].copy_(last_heading)
        if one:  # one coordinate: the step's sign, from comparisons (row 0 already is one)
            below = self._buffer("scratch", len(x), x[0, ..., 0], x.dtype).unsqueeze(-1)
            if self._last is not None:
                step_signs(x[0], last_x, heading[1], below[0])
            step_signs(x[1:], x[:-1], heading[2:], below[1:])
        else:
            if self._last is not None:
                torch.sub(x[0], last_x, out=heading[1])
            torch.sub(x[1:], x[:-1], out=heading[2:])
        return heading

    def _vote(self, turn: Tensor) -> None:
        """Count the signs of step_k · step_(k-1), rows of `turn` (`turn_signs`), into the zigzag and spiral votes."""
        turns, reversals = self._counts[3:5]
        turns.add_(turn.sum(0))  # ±1 per pair: exact in float32
        reversals.sub_(turn.clamp_(max=0).sum(0))

    def _rise(self, cost: Tensor) -> None:
        """`rising`, over the piece's changes and the one across the seam, for columns that have not risen yet."""
        change = self._buffer("scratch", len(cost), cost[0], cost.dtype)
        last = None if self._last is None else self._last[1]
        if last is not None:
            torch.sub(cost[0], last, out=change[0])
        torch.sub(cost[1:], cost[:-1], out=change[1:])

        def before(columns: Tensor) -> Tensor:  # c_k of each change row, the seam's included
            rows = cost[:-1, columns]
            return rows if last is None else torch.cat([last[None, columns], rows])

        rises(change[1:] if last is None else change, before, self.cost_tol, self._counts[5])

    def _narrow(self, columns: Tensor) -> None:
        """From now on only `columns` of the batch are fed: keep what the others counted as it is."""
        fed = self.columns if self.columns is not None else torch.arange(len(self._counts[0]), device=columns.device)
        batch = len(self._counts[0]) if self._dropped is None else len(self._dropped[0])
        kept = torch.zeros(batch, dtype=torch.bool, device=columns.device)
        kept[columns] = True
        if self._dropped is None:
            self._dropped = [c.clone() for c in self._counts]
        else:
            for whole, counted in zip(self._dropped, self._counts):
                whole[fed] = counted
        at = kept[fed].nonzero()[:, 0]  # where the columns still fed are among those fed so far
        self._counts = [c[at] for c in self._counts]
        self._last = tuple(v[at] for v in self._last)
        self.columns = columns

    def _whole(self, index: int) -> Tensor:
        """One of the counts for the whole batch: the columns still fed, and the dropped ones as they left it."""
        counted = self._counts[index]
        if self._dropped is None:
            return counted
        whole = self._dropped[index].clone()
        whole[self.columns] = counted
        return whole

    def _buffer(self, name: str, rows: int, row: Tensor, dtype: torch.dtype) -> Tensor:
        """`rows` rows shaped as `row`, in scratch memory reused from piece to piece.

        "scratch" is shared, per dtype, by values each read before the next is written (the
        comparisons behind a sign, the turns, the cost changes): less memory for a piece's passes
        to stream through the core's cache. Fewer columns (`_narrow`) reuse the front of it."""
        size = rows * row.numel()
        flat = self._scratch.get((name, dtype))
        if flat is None or flat.numel() < size:
            flat = self._scratch[name, dtype] = row.new_empty(size, dtype=dtype)
        return flat[:size].view(rows, *row.shape)


def direction(step: Tensor) -> Tensor:
    """What the turn rule compares between consecutive steps (N, B, D): with one coordinate the
    step's sign, so that two tiny steps cannot multiply to 0 (underflow) and hide a turn; with
    more, the step in float64, where a float32 product of steps cannot underflow.
    sign(d_k · d_(k-1)) < 0: the path turned back."""
    return step.sign() if step.shape[-1] == 1 else step.double()


def step_signs(later: Tensor, before: Tensor, out: Tensor, scratch: Tensor) -> Tensor:
    """sign(later - before) into `out`, as (later > before) - (later < before), using `scratch`.

    The same signs as subtracting (with gradual underflow a difference is 0 only between equal
    values; nan compares neither way, as torch.sign(nan) is 0), without the subtraction: where
    iterates near 0 are subnormal, a subtraction runs several times slower on a CPU than a comparison."""
    torch.gt(later, before, out=out)
    return out.sub_(torch.lt(later, before, out=scratch))


def turn_signs(later: Tensor, before: Tensor, out: Tensor | None = None) -> Tensor:
    """sign(d_k · d_(k-1)) row by row for directions (`direction`) d_k, d_(k-1): -1 where the path
    turned back, 0 where a step was 0, into `out` if given. One coordinate: the product of two
    signs, already a sign; more: the sign of the dot product."""
    if later.shape[-1] == 1:
        return torch.mul(later[..., 0], before[..., 0], out=out)
    return torch.sum(later * before, dim=-1, out=out).sign_()


def rising(cost: Tensor, cost_tol: float) -> Tensor:
    """Per column of cost (K, B): some step raised the cost by more than rounding,
    c_(k+1) - c_k > cost_tol · (1 + |c_k|). A column with a nan reads False: it is diverging, and
    whether it rose is never asked of it."""
    return rises(cost[1:] - cost[:-1], lambda columns: cost[:-1, columns], cost_tol)


def rises(change: Tensor, before: Callable[[Tensor], Tensor], cost_tol: float, rose: Tensor | None = None) -> Tensor:
    """`rising` from the changes (K, B), c_(k+1) - c_k, and before(columns), the rows of c_k of those columns.

    The threshold is never below cost_tol, so only the columns whose largest change exceeds
    cost_tol are tested step by step: in a scan, none but the few still rising. `rose`: the
    columns known to have risen already (not tested again), updated in place and returned."""
    rose = torch.zeros(change.shape[1:], dtype=torch.bool, device=change.device) if rose is None else rose
    if not len(change):
        return rose
    maybe = (change.amax(0) > cost_tol).logical_and_(~rose)
    if maybe.any():
        columns = maybe.nonzero()[:, 0]
        rose[columns] = change[:, columns].sub(before(columns).abs(), alpha=cost_tol).amax(0) > cost_tol
    return rose
