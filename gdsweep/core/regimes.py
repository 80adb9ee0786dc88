"""Regime labels: converging (monotone or zigzag), oscillating (period p) or diverging.

The rules read a whole trajectory at once, one column per learning rate (README, "Regimes"):

1. a non-finite cost or iterate                                   -> diverging
2. final gradient norm <= grad_tol; or x hops across its minimum
   by rounding (the last 2·max_period steps within 1024 ulps of x,
   one of them reversing the one before); or x has stopped to the
   last bit (the last 2·max_period steps are 0) with a gradient
   below sqrt(eps) of the largest the run saw (lr·∇f rounds away
   at the minimum)                                                -> converging, converged
3. x_k = x_(k-p) over the last 2p steps for the smallest p >= 2,
   unless the cost still falls measurably at every step           -> oscillating, period p
4. cost rises at every step of the tail (last half) and overall   -> diverging
5. the iterates run away over the tail, whatever the cost does:
   every step at least as long as the one before and longer at the
   end, ‖x‖ growing at every step, and ‖x_N‖ >= 2·max(1, ‖x_0‖)   -> diverging
6. cost falls at every step of the tail and overall, or x is stuck -> converging
   (or it spirals in: up and down, its envelope shrinking; momentum) -> converging, spiral
7. anything else: bounded, no net progress, no cycle found        -> oscillating, period 0

The path of a converging run is zigzag when most consecutive steps point in opposite
directions, spiral when it turns back at least twice and the cost rose on the way (an
underdamped momentum run circling in), else monotone. `rate` is the geometric factor by which the cost changes per step
over the tail, measured on |c_(k+1) - c_k| so that it needs no known minimum value.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from gdsweep.core.earlier import Earlier, direction, turn_signs
from gdsweep.core.earlier import rising as rose
from gdsweep.core.rate import cost_rate
from gdsweep.core.spec import Tolerances

CONVERGING, OSCILLATING, DIVERGING = "converging", "oscillating", "diverging"
MONOTONE, ZIGZAG, SPIRAL = "monotone", "zigzag", "spiral"
ROUNDING_ULPS = 1024  # steps this many ulps of x or smaller, hopping back and forth, are rounding
RUNAWAY_REACH = 2.0  # a runaway has carried x at least this far: ‖x_N‖ >= RUNAWAY_REACH · max(1, ‖x_0‖)


@dataclass(frozen=True)
class Regimes:
    """One entry per learning rate."""

    regime: list[str]
    path: list[str | None]  # None unless converging
    converged: list[bool]
    period: list[int]  # 0 unless a cycle was found
    rate: list[float]  # nan when fewer than two cost changes were seen


def classify(cost: Tensor, x: Tensor, grad_norm: Tensor, tol: Tolerances, earlier: Earlier | None = None) -> Regimes:
    """Label every column of a trajectory: cost (N+1, B), x (N+1, B, D), grad_norm (N+1, B).

    Given `earlier` (fed the whole run), the rows are the run's tail: the rules read the tail,
    and non-finite values and the zigzag vote count the whole run.
    """
    eps = torch.finfo(x.dtype).eps
    batch, n, window = x.shape[1], cost.shape[0] - 1, 2 * tol.max_period
    tail = max(1, n // 2)
    x_range, cost_range = _extremes(x), _extremes(cost)  # in the run's own dtype, before the copies in float64
    finite = _finite(*x_range).cpu()
    if earlier is None:  # (with it, every cost and gradient of the tail was seen by earlier)
        finite &= (_finite(*cost_range) & _finite(*_extremes(grad_norm))).cpu()
    else:
        finite &= earlier.finite.cpu()
    last_x, last_grad = x[-1].double().cpu(), grad_norm[-1].double().cpu()
    # Only the columns that move are measured, in float64: in a dense scan most lrs converged, or
    # blew up, long before the tail. A column at rest (every row of x and of the cost the same as
    # the first; a nan is never the same) has no step, no change and no turn: the rules read it as
    # stuck and falling, converging (converged where its gradient is within grad_tol or it has
    # settled), rate 0, no cycle; it gets what a constant tail measures.
    moving = (~(_same(*x_range) & _same(*cost_range))).nonzero()[:, 0]
    rows = _Rows(cost.index_select(1, moving).double().cpu(), x.index_select(1, moving).double().cpu())
    moving = moving.cpu()

    def measured(values: Tensor, rest: float | bool) -> Tensor:  # per column; at rest: `rest`
        whole = torch.full((batch,), rest, dtype=values.dtype)
        whole[moving] = values
        return whole

    # -1 where consecutive steps point back; given earlier (which counted the whole run's turns),
    # only those of the last window are read here.
    turn = _turns(rows.step if earlier is None else rows.step[-window:])
    # A float32 run can sit at its minimum with a gradient above grad_tol (9.35 · ulp(1.13) on the
    # double well), hopping across it by rounding: that is converged, not a 2-cycle. Near the
    # edge the step's multiplier m = 1 - lr·λ nears -1 and amplifies rounding by 1/(1 - |m|),
    # hence 1024 ulps (|m| up to 0.999); a true 2-cycle just past the edge is far larger.
    # A run stuck because lr · grad is below rounding does not hop: it is not converged.
    rounding = ROUNDING_ULPS * eps * (1 + _norm(last_x))
    hopping = measured((turn[-(window - 1) :] < 0).any(0), False) if window > 1 else torch.zeros_like(finite)
    recent = measured(rows.step_norm[-window:].amax(0), 0.0) if n else None  # the longest of the last `window` steps
    at_floor = hopping & (recent <= rounding) if n else torch.zeros_like(finite)
    # A run that stopped to the last bit (lr·∇f rounds away) with a gradient far below what it
    # started with has reached its minimum in this precision; one stopped where it began has not.
    start_norm = _norm(x[0].double().cpu()) if earlier is None else earlier.start_norm.cpu()
    if earlier is None:  # (a maximum is exact in the run's dtype)
        grad_max = torch.nan_to_num(grad_norm, nan=0.0, posinf=0.0).amax(0).double().cpu()
    else:  # it saw the tail too; a non-finite run's largest gradient is never read
        grad_max = earlier.grad_max.cpu()
    stopped = (recent == 0) if n >= window else torch.zeros_like(finite)
    settled = stopped & (last_grad <= eps**0.5 * grad_max)
    converged = finite & ((last_grad <= tol.grad_tol) | at_floor | settled)

    noise = rows.cost[:-1][-tail:].abs().add_(1).mul_(tol.cost_tol)
    tail_change = rows.change[-tail:]
    net = rows.cost[-1] - rows.cost[-1 - tail] if n else torch.zeros_like(rows.cost[0])
    stuck = measured(rows.step_norm[-tail:].amax(0) == 0, True) if n else torch.ones_like(finite)
    rising = measured((tail_change >= -noise).all(0) & (net > 0), False)
    falling = measured((tail_change <= noise).all(0) & (net < 0), False) | stuck

    # The cycle and runaway rules only matter to finite runs that have not converged, and a
    # near-cycle whose cost still falls by more than rounding at every turn is progress (a
    # zigzag down a narrow valley), not a cycle. In a dense scan most columns have converged or
    # blown up, so those rules read only the few columns where they can change a label.
    unsettled = finite & ~converged
    progress = falling & measured(-net > noise.sum(0), False)
    at = torch.full((batch,), -1, dtype=torch.long)  # where each moving column sits among those measured
    at[moving] = torch.arange(len(moving))
    period = torch.zeros(batch, dtype=torch.long)
    cycling = (unsettled & ~progress & (at >= 0)).nonzero()[:, 0]
    period[cycling] = _cycle_period(*rows.columns(at[cycling], 3 * tol.max_period), tol)  # all it reads
    closing = measured(_closing_in(rows.step_norm, rows.cost), False)  # its cost may end the tail higher
    if earlier is None:
        reversals = measured((turn < 0).sum(0, dtype=torch.int32), 0)
    else:  # only where it decides spiral_in
        reversals = torch.zeros(batch, dtype=torch.int32)
        closers = closing.nonzero()[:, 0]
        reversals[closers] = (_turns(rows.step.index_select(1, at[closers])) < 0).sum(0, dtype=torch.int32)
    spiral_in = closing & (reversals >= 2)
    far = _norm(last_x) >= RUNAWAY_REACH * start_norm.clamp(min=1.0)
    runaway = torch.zeros_like(finite)
    away = (unsettled & far & (period == 0) & ~spiral_in & (at >= 0)).nonzero()[:, 0]
    runaway[away] = _runaway(*rows.columns(at[away], tail), tail, eps)
    diverging = ~finite | ((period == 0) & ~converged & rising & ~spiral_in) | runaway
    converging = finite & ~diverging & (converged | ((period == 0) & (falling | spiral_in)))
    if earlier is None:
        zigzag = measured(turn.sum(0) < 0, False)  # most pairs of consecutive non-zero steps point back
        spiral = spiral_in | ((reversals >= 2) & measured(rose(rows.cost, tol.cost_tol), False))
    else:  # counted over the whole run as it went by
        zigzag = (earlier.turns < 0).cpu()
        spiral = spiral_in | ((earlier.reversals >= 2) & earlier.rose).cpu()
    rate = measured(cost_rate(rows.change, rows.step_norm), 0.0)

    regime, path = [], []
    for blown, settling, reversing, circling in zip(
        diverging.tolist(), converging.tolist(), zigzag.tolist(), spiral.tolist()
    ):
        label = DIVERGING if blown else CONVERGING if settling else OSCILLATING
        regime.append(label)
        kind = ZIGZAG if reversing else SPIRAL if circling else MONOTONE
        path.append(kind if label == CONVERGING else None)
    return Regimes(regime, path, converged.tolist(), period.tolist(), rate.tolist())


class _Rows:
    """The rows of the columns measured, in float64: cost (N+1, B'), x (N+1, B', D), their steps and cost changes."""

    def __init__(self, cost: Tensor, x: Tensor) -> None:
        self.cost, self.x = cost, x
        self.step = (x[1:] - x[:-1]).nan_to_num_()  # (N, B', D)
        self.step_norm = _norm(self.step)
        self.change = (cost[1:] - cost[:-1]).nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)

    def columns(self, at: Tensor, steps: int) -> tuple[Tensor, Tensor]:
        """x and the step norms over the last `steps` steps (at most all) of some of the columns measured."""
        first = len(self.step_norm) - min(steps, len(self.step_norm))  # the first step read; x from there
        return self.x[first:].index_select(1, at), self.step_norm[first:].index_select(1, at)


def _norm(v: Tensor) -> Tensor:
    """‖v‖ over the last axis: with one coordinate |v|, exactly as vector_norm gives it, in one pass."""
    return v[..., 0].abs() if v.shape[-1] == 1 else torch.linalg.vector_norm(v, dim=-1)


def _turns(step: Tensor) -> Tensor:
    """sign(step_k · step_(k-1)) for steps (N, B, D): (N-1, B), -1 where the path turned back."""
    heading = direction(step)
    return turn_signs(heading[1:], heading[:-1])


def _closing_in(step_norm: Tensor, cost: Tensor) -> Tensor:
    """Up and down, but closing in (with at least two turns back: an underdamped momentum run):
    over three equal windows of the run's last steps the largest step and the highest cost
    shrink, the steps by 0.1 % per step and by half over 32 steps or more."""
    n = step_norm.shape[0]
    m = n // 3
    if m < 2:
        return torch.zeros(step_norm.shape[1], dtype=torch.bool)
    windows = [slice(n - (3 - i) * m, n - (2 - i) * m) for i in range(3)]
    steps = [step_norm[w].amax(0) for w in windows]
    costs = [cost[1:][w].amax(0) for w in windows]
    # Chaos keeps its envelope but a short window can dip by chance: over 32 steps or more the
    # largest step must at least halve (a β = 0.9 spiral shrinks 0.949× a step), and always by 0.1 % a step.
    factor = min(0.999 ** (2 * m), 0.5 if 2 * m >= 32 else 1.0)
    shrinking = (steps[1] < steps[0]) & (steps[2] < steps[1]) & (steps[2] < steps[0] * factor)
    return shrinking & (costs[1] < costs[0]) & (costs[2] < costs[1])


def _runaway(x: Tensor, step_norm: Tensor, tail: int, eps: float) -> Tensor:
    """Iterates that run off, even while the cost falls (an objective unbounded below along the path),
    read where x has gone at least RUNAWAY_REACH times further out than where it started (or than 1).

    Over the tail every step is at least as long as the one before (to rounding) and the last
    is longer than the first, and ‖x‖ grows at every step. A run that accelerates for a while
    on its way into a well (a concave stretch) does not reach that far and then slows down.
    """
    n = x.shape[0] - 1
    if n < 2:
        return torch.zeros(x.shape[1], dtype=torch.bool)
    steps = step_norm[-tail:]
    norms = _norm(x[-tail - 1 :])
    longer = (steps[1:] >= steps[:-1] * (1 - 8 * eps)).all(0) & (steps[-1] > steps[0])
    return longer & (norms[1:] > norms[:-1]).all(0)


def _extremes(values: Tensor) -> tuple[Tensor, Tensor]:
    """Per column (axis 1) and coordinate: the largest and the smallest value of the rows (a nan carries)."""
    rows = values if values.dim() > 2 else values.unsqueeze(-1)
    return rows.amax(0), rows.amin(0)


def _finite(high: Tensor, low: Tensor) -> Tensor:
    """Per column, from `_extremes`: every value finite (the largest and smallest carry any nan or inf)."""
    return (high.isfinite() & low.isfinite()).all(-1)


def _same(high: Tensor, low: Tensor) -> Tensor:
    """Per column, from `_extremes`: every row the same as the first."""
    return (high == low).all(-1)


def _cycle_period(x: Tensor, step_norm: Tensor, tol: Tolerances) -> Tensor:
    """Smallest p >= 2 with x_k = x_(k-p) (relative to the step size) over the last 2p steps.

    Looked for only where the last x is that close to one of x_(n-2)..x_(n-max_period), measured
    against the longest of the last 3·max_period steps (no window's scale is longer): the pairs of
    every window end with x_n, so elsewhere no p can be found."""
    n = x.shape[0] - 1
    period = torch.zeros(x.shape[1], dtype=torch.long)
    last = min(n, tol.max_period)
    if last < 2:
        return period
    longest = step_norm[max(0, n - 3 * tol.max_period) :].amax(0)
    back = _norm(x[n] - x[n - last : n - 1])  # |x_n - x_(n-p)|, p = last..2
    columns = ((back <= tol.cycle_tol * longest).any(0) & (longest > 0)).nonzero()[:, 0]
    x, step_norm, found = x.index_select(1, columns), step_norm.index_select(1, columns), period[columns]
    for p in range(2, last + 1):
        pairs = min(n - p + 1, 2 * p)
        gap = _norm(x[n - pairs + 1 :] - x[n - pairs + 1 - p : n + 1 - p]).amax(0)
        scale = step_norm[n - pairs + 1 - p :].amax(0)
        found[(found == 0) & (scale > 0) & (gap <= tol.cycle_tol * scale)] = p
    period[columns] = found
    return period
