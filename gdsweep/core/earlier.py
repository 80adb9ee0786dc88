"""What the regime labels need from the steps a caller did not keep (a scan keeps only a tail).

A scan of 10^4 lrs keeps the last few dozen steps of each; the rules that read the whole run
(anything non-finite, the largest gradient, the zigzag and spiral votes) are counted here as the
pieces go by, in a few passes per piece, so memory does not grow with N. Pure torch.
"""

from __future__ import annotations

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
        self.turns: Tensor | None = None  # (B,) Σ sign(step_k · step_(k-1)): < 0 when most steps reverse
        self.reversals: Tensor | None = None  # (B,) how many consecutive steps pointed back
        self.rose: Tensor | None = None  # (B,) some step raised the cost by more than rounding
        self._extremes: list[Tensor] = []  # (B,) largest cost, smallest cost, largest ‖grad‖: nan and inf stay
        self._last: tuple[Tensor, Tensor | None, Tensor] | None = None  # the last x, step direction and cost seen
        self._scratch: dict[str, Tensor] = {}

    @property
    def finite(self) -> Tensor:
        """(B,) every cost and gradient so far finite (a non-finite x shows in both)."""
        high, low, grad = self._extremes
        return high.isfinite() & low.isfinite() & grad.isfinite()

    @property
    def grad_max(self) -> Tensor:
        """(B,) float64, the largest gradient norm so far (read only where finite)."""
        return self._extremes[2].double()

    def add(self, x: Tensor, cost: Tensor, grad_norm: Tensor) -> None:
        """One piece: rows of x (K, B, D), cost and grad_norm (K, B) that follow the previous piece.

        In the piece's own dtype and device, one pass per statistic into scratch tensors made
        once. Maxima and minima carry any nan or inf. The two steps and the cost change across
        the seam with the previous piece are counted from its last x, step direction and cost.
        """
        extremes = [cost.amax(0), cost.amin(0), grad_norm.amax(0)]
        if self._last is None:
            self.start_norm = torch.linalg.vector_norm(x[0].double(), dim=-1)
            self._extremes = extremes
            zeros = torch.zeros(cost.shape[1], dtype=torch.float64, device=cost.device)
            self.turns, self.reversals, self.rose = zeros, zeros.clone(), zeros.bool()
        else:
            for pick, kept, new in zip((torch.maximum, torch.minimum, torch.maximum), self._extremes, extremes):
                pick(kept, new, out=kept)
        step = torch.sub(x[1:], x[:-1], out=self._buffer("step", len(x) - 1, x))
        heading = step.sign_() if step.shape[-1] == 1 else direction(step)  # one coordinate: in place
        if len(heading) > 1:
            one = heading.shape[-1] == 1
            self._vote(
                turn_signs(heading[1:], heading[:-1], self._buffer("turn", len(heading) - 1, cost) if one else None)
            )
        self.rose |= rising(cost, self.cost_tol, self._buffer("change", len(cost) - 1, cost), extremes[:2])
        if self._last is not None:  # across the seam: the previous piece's last step, the bridge, this one's first
            last_x, last_heading, last_cost = self._last
            bridge = direction(x[0] - last_x)
            seam = [bridge, heading[0]] if len(heading) else [bridge]
            if last_heading is not None:
                seam.insert(0, last_heading)
            if len(seam) > 1:
                pairs = torch.stack(seam)
                self._vote(turn_signs(pairs[1:], pairs[:-1]))
            self.rose |= rising(torch.stack([last_cost, cost[0]]), self.cost_tol)
            last_heading = bridge
        tail = heading[-1] if len(heading) else last_heading if self._last is not None else None
        self._last = (x[-1].clone(), None if tail is None else tail.clone(), cost[-1].clone())

    def _vote(self, turn: Tensor) -> None:
        """Count the signs of step_k · step_(k-1), rows of `turn` (`turn_signs`), into the zigzag and spiral votes."""
        self.turns.add_(turn.sum(0))  # ±1 per pair: exact in float32
        self.reversals.sub_(turn.clamp_(max=0).sum(0))

    def _buffer(self, name: str, rows: int, like: Tensor) -> Tensor:
        """`rows` rows shaped as like's, in scratch memory reused from piece to piece."""
        kept = self._scratch.get(name)
        if kept is None or len(kept) < rows or kept.shape[1:] != like.shape[1:] or kept.dtype != like.dtype:
            kept = self._scratch[name] = like.new_empty(rows, *like.shape[1:])
        return kept[:rows]


def direction(step: Tensor) -> Tensor:
    """What the turn rule compares between consecutive steps (N, B, D): with one coordinate the
    step's sign, so that two tiny steps cannot multiply to 0 (underflow) and hide a turn; with
    more, the step in float64, where a float32 product of steps cannot underflow.
    sign(d_k · d_(k-1)) < 0: the path turned back."""
    return step.sign() if step.shape[-1] == 1 else step.double()


def turn_signs(later: Tensor, before: Tensor, out: Tensor | None = None) -> Tensor:
    """sign(d_k · d_(k-1)) row by row for directions (`direction`) d_k, d_(k-1): -1 where the path
    turned back, 0 where a step was 0, into `out` if given. One coordinate: the product of two
    signs, already a sign; more: the sign of the dot product."""
    if later.shape[-1] == 1:
        return torch.mul(later[..., 0], before[..., 0], out=out)
    return torch.sum(later * before, dim=-1, out=out).sign_()


def rising(cost: Tensor, cost_tol: float, change: Tensor | None = None, span: list[Tensor] | None = None) -> Tensor:
    """Per column: some step raised the cost by more than rounding, c_(k+1) - c_k > cost_tol · (1 + |c_k|).

    The largest change is compared with the threshold at the largest and the smallest |c| the
    column holds (`span`: its maximum and minimum cost, when the caller has them): above the
    one it surely rose, below the other it surely did not, each with a margin of 8 ulps over
    the exact test's rounding. Only columns in between are tested step by step, so most pieces
    cost one pass and a reduction. `change` (K-1, B) is scratch memory, when given. A column
    with a nan reads False: it is diverging, and whether it rose is never asked of it.
    """
    if cost.shape[0] < 2:
        return torch.zeros(cost.shape[1:], dtype=torch.bool, device=cost.device)
    change = torch.sub(cost[1:], cost[:-1], out=change)
    top = change.amax(0)
    high, low = span if span is not None else (cost.amax(0), cost.amin(0))
    margin = 8 * torch.finfo(cost.dtype).eps
    largest = torch.maximum(high.abs(), low.abs())
    smallest = torch.where(low > 0, low, torch.where(high < 0, -high, 0.0))
    rose = top > cost_tol * (1 + largest) * (1 + margin)
    unsure = ~rose & (top > cost_tol * (1 + smallest) * (1 - margin)) & top.isfinite()
    if unsure.any():
        columns = unsure.nonzero()[:, 0]
        rows = cost[:, columns]
        exact = (rows[1:] - rows[:-1]).sub_(rows[:-1].abs(), alpha=cost_tol).amax(0) > cost_tol
        rose[columns] = exact
    return rose
