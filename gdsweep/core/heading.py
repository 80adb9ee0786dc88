"""Where descent from x0 is heading: the local minimiser, found in float64, or none (unbounded below).

The theory point of a run that did not settle (or of a function that lists no minimiser) is the
minimiser that descent from its x0 heads for. Pure torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable

import torch
from torch import Tensor

from gdsweep.core.curvature import FULL_HESSIAN_MAX
from gdsweep.core.descent import Objective

BIG_MAX_ITER = 300  # L-BFGS iterations past FULL_HESSIAN_MAX coordinates (a model): bounded time per job

_HEADING: dict[Hashable, Tensor | None] = {}  # (function, x0) -> where descent from x0 heads


class _Unbounded(Exception):
    """The cost fell without bound (or the point flew off) while looking for a minimiser."""


def heading_for(f: Objective, x0: Tensor, key: Hashable | None = None, max_iter: int = 3000) -> Tensor | None:
    """The local minimiser that descent from x0 heads for, in float64; None when there is none.

    L-BFGS (10 pairs) with an Armijo backtracking line search, from x0; where it has no
    curvature pairs yet it is backtracking gradient descent whose trial step doubles after each
    success. (torch.optim.LBFGS would do, but building one imports ~800 modules, a second per
    job.) None when f is unbounded below along the way (the cost falls by more than
    1e12·(1 + |f(x0)|), x goes 1e8·(1 + ‖x0‖) out, or a value is not finite), or when the point
    it stops at has a negative Hessian eigenvalue (a maximum or saddle that x0 sat on).
    Remembered per `key` (the function and x0), so a process asks once, not once per lr.
    Past FULL_HESSIAN_MAX coordinates (a model) the search stops after BIG_MAX_ITER iterations
    and the end point's curvature is not checked (no dense Hessian of thousands of weights).
    """
    if key is not None and key in _HEADING:
        return _HEADING[key]
    start = x0.detach().double().cpu().reshape(-1)
    try:
        big = start.numel() > FULL_HESSIAN_MAX  # a model: no dense Hessian, fewer iterations
        point = _lbfgs(_guard(f, start), start, min(max_iter, BIG_MAX_ITER) if big else max_iter)
        if not big and not _is_minimum(f, point):
            point = None
    except _Unbounded:
        point = None
    if key is not None:
        _HEADING[key] = point
    return point


def _guard(f: Objective, start: Tensor) -> Callable[[Tensor], Tensor]:
    """f at one point (D,), raising _Unbounded once the cost or the point runs off."""
    with torch.no_grad():
        c0 = f(start.unsqueeze(0)).sum().item()
    if not math.isfinite(c0):
        raise _Unbounded
    floor, reach = c0 - 1e12 * (1 + abs(c0)), 1e8 * (1 + torch.linalg.vector_norm(start).item())

    def cost(x: Tensor) -> Tensor:
        value = f(x.unsqueeze(0)).sum()
        if not torch.isfinite(value) or value.item() < floor or torch.linalg.vector_norm(x).item() > reach:
            raise _Unbounded
        return value

    return cost


def _lbfgs(cost: Callable[[Tensor], Tensor], start: Tensor, max_iter: int, memory: int = 10) -> Tensor:
    def value_and_grad(x: Tensor) -> tuple[float, Tensor]:
        with torch.enable_grad():
            point = x.clone().requires_grad_(True)
            value = cost(point)
            (grad,) = torch.autograd.grad(value, point)
        return value.item(), grad

    x = start.clone()
    value, grad = value_and_grad(x)
    tiny = 1e-12 * max(1.0, torch.linalg.vector_norm(grad).item())
    pairs: list[tuple[Tensor, Tensor]] = []
    plain = 1.0 / max(1.0, torch.linalg.vector_norm(grad).item())  # gradient steps: doubled on success
    for _ in range(max_iter):
        if torch.linalg.vector_norm(grad).item() <= tiny:
            break
        direction, trial = _two_loop(grad, pairs), 1.0
        if not pairs or grad.dot(direction).item() >= 0:
            pairs, direction, trial = [], -grad, plain
        slope = grad.dot(direction).item()
        while cost(x + trial * direction).item() > value + 1e-4 * trial * slope:
            trial /= 2
            if trial < 1e-30:
                return x  # no descent left in float64: as far as it goes
        new_x = x + trial * direction
        new_value, new_grad = value_and_grad(new_x)
        if not pairs:
            plain = 2 * trial
        step, change = new_x - x, new_grad - grad
        if step.dot(change).item() > 1e-12 * step.dot(step).item():
            pairs = [*pairs[-(memory - 1) :], (step, change)]
        done = abs(value - new_value) <= 1e-16 * (1 + abs(value)) and torch.equal(new_x, x)
        x, value, grad = new_x, new_value, new_grad
        if done:
            break
    return x


def _two_loop(grad: Tensor, pairs: list[tuple[Tensor, Tensor]]) -> Tensor:
    """The L-BFGS direction −H·grad from the stored (step, gradient change) pairs."""
    q, kept = grad.clone(), []
    for step, change in reversed(pairs):
        rho = 1 / change.dot(step)
        alpha = rho * step.dot(q)
        q -= alpha * change
        kept.append((rho, alpha, step, change))
    if pairs:
        step, change = pairs[-1]
        q *= step.dot(change) / change.dot(change)
    for rho, alpha, step, change in reversed(kept):
        q += step * (alpha - rho * change.dot(q))
    return -q


def _is_minimum(f: Objective, point: Tensor) -> bool:
    """No negative Hessian eigenvalue, and along each nearly flat one f does not fall either way.

    The flat test tells x**4 at 0 (a minimum) from x**3 at 0 (an inflection descent from x0 > 0
    creeps into, with f unbounded below beyond it).
    """
    h = torch.autograd.functional.hessian(lambda v: f(v.unsqueeze(0)).sum(), point)
    if not torch.isfinite(h).all():
        return True  # a kink (|x| at 0): a minimum without curvature, λmax is nan
    values, vectors = torch.linalg.eigh(_symmetric(h))
    scale = max(1.0, values.abs().max().item())
    if values.min().item() < -1e-9 * scale:
        return False
    delta = 1e-3 * (1 + torch.linalg.vector_norm(point).item())
    with torch.no_grad():
        here = f(point.unsqueeze(0)).sum().item()
        for value, vector in zip(values.tolist(), vectors.T):
            if value <= 1e-3 * scale:  # nearly flat: higher-order terms decide
                probes = f(torch.stack([point + delta * vector, point - delta * vector])).reshape(-1)
                if probes.min().item() < here - 1e-12 * (1 + abs(here)):
                    return False
    return True


def _symmetric(h: Tensor) -> Tensor:
    return (h + h.T) / 2
