"""What the local quadratic model predicts: Hessian, sharpness λmax and the critical lr 2/λmax.

Near a minimum x*, f ≈ f(x*) + ½ (x − x*)ᵀ H (x − x*), and gradient descent on that model is
monotone for lr < 1/λmax, zigzags but converges up to 2/λmax, cycles at 2/λmax and diverges above.
Pure torch: Hessians by autograd, and for the sharpness along a path Hessian-vector products
with power iteration, so it scales past tiny dimensions.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor

from gdsweep.core import curvature
from gdsweep.core.descent import Objective, Trajectory
from gdsweep.core.heading import heading_for
from gdsweep.core.spec import OptimizerSpec

GD = OptimizerSpec()


class Landscape(Protocol):
    """What the theory needs of an objective: f, and its known minimisers (() when unknown)."""

    f: Objective
    minimizers: Sequence[Sequence[float]]


def hessian(f: Objective, point: Tensor) -> Tensor:
    """The Hessian (D, D) of f at one point (D,), by autograd."""
    return torch.autograd.functional.hessian(lambda v: f(v.unsqueeze(0)).sum(), point)


def sharpness(f: Objective, point: Tensor) -> float:
    """λmax, the largest eigenvalue of the Hessian at `point` (nan where f is not twice differentiable)."""
    if point.numel() > curvature.FULL_HESSIAN_MAX:  # a model: Hessian-vector products
        return curvature.top_eigenvalue(f, point)
    h = hessian(f, point.detach().double())
    if not torch.isfinite(h).all():
        return math.nan
    return torch.linalg.eigvalsh((h + h.T) / 2).max().item()


def edge_factor(optimizer: OptimizerSpec = GD, beta: float | None = None) -> float:
    """On a quadratic with curvature λmax the optimizer is stable iff lr < edge_factor / λmax.

    gd: 2. Heavy ball (torch's SGD momentum): 2(1 + β). torch's Nesterov: 2(1 + β) / (1 + 2β).
    Adam: no closed form (nan). `beta` overrides the optimizer's momentum (the lr × β map).
    """
    b = optimizer.momentum if beta is None else beta
    if optimizer.name == "gd":
        return 2.0
    if optimizer.name == "momentum":
        return 2 * (1 + b)
    if optimizer.name == "nesterov":
        return 2 * (1 + b) / (1 + 2 * b)
    return math.nan


def edge_formula(optimizer: OptimizerSpec = GD) -> str:
    """The optimizer's critical lr as a formula, for printed lines ("" where none is known)."""
    return {"gd": "2/λmax", "momentum": "2(1+β)/λmax", "nesterov": "2(1+β)/((1+2β)λmax)"}.get(optimizer.name, "")


def predicted_regime(lr: float, top: float, optimizer: OptimizerSpec = GD) -> str:
    """What the optimizer does on the local quadratic model at this lr.

    gd: monotone, zigzag, oscillating (at 2/λmax), diverging. Momentum and Nesterov add
    `spiral` (underdamped: complex eigenvalues of the two-step recursion). Adam: unknown.
    """
    if not math.isfinite(top) or not math.isfinite(edge_factor(optimizer)):
        return "unknown"
    if optimizer.name != "gd":
        return _momentum_regime(lr * top, optimizer)
    if lr * top < 1:
        return "monotone"
    if lr * top < 2:
        return "zigzag"
    return "oscillating" if lr * top == 2 else "diverging"


def _momentum_regime(h: float, optimizer: OptimizerSpec) -> str:
    """Heavy ball / Nesterov on f = ½λx² with h = lr·λ: the iterates follow z² − T z + D = 0.

    Heavy ball: T = 1 + β − h, D = β. torch's Nesterov: T = 1 + β − h(1 + β), D = β(1 − h).
    T < 0: the dominant root (or the complex pair) turns by more than 90° per step, so most
    steps reverse: zigzag. Else complex roots (T² < 4D, underdamped; for heavy ball
    β > (1 − √h)²): the run spirals in; real positive roots (overdamped): monotone.
    """
    edge, b = edge_factor(optimizer), optimizer.momentum
    if math.isclose(h, edge, rel_tol=1e-12):
        return "oscillating"
    if h > edge:
        return "diverging"
    if optimizer.name == "momentum":
        trace, det = 1 + b - h, b
    else:
        trace, det = 1 + b - h * (1 + b), b * (1 - h)
    if trace < 0:  # the dominant root (or the complex pair) turns by more than 90° a step
        return "zigzag"
    return "spiral" if trace * trace < 4 * det else "monotone"


def sharpness_along(f: Objective, points: Tensor, iterations: int = 50, scale: Tensor | None = None) -> Tensor:
    """λmax at each of M points (M, D) by power iteration on Hessian-vector products, batched.

    Returns the Rayleigh quotient of the dominant eigenvector, i.e. the eigenvalue of largest
    magnitude, as edge-of-stability studies report it (Cohen et al., ICLR 2021). With `scale`
    (M, D) = P^(-1/2) it is the top eigenvalue of P⁻¹H (the same as of P^(-1/2) H P^(-1/2)):
    the preconditioned sharpness of Adam (Cohen et al., 2022).
    """
    scale = torch.ones_like(points, dtype=torch.float64) if scale is None else scale.double()
    x = points.detach().double().requires_grad_(True)
    (grad,) = torch.autograd.grad(f(x).sum(), x, create_graph=True)
    v = torch.randn_like(x, generator=torch.Generator().manual_seed(0))
    v = v / torch.linalg.vector_norm(v, dim=-1, keepdim=True)
    top = torch.zeros(x.shape[0], dtype=x.dtype)
    for _ in range(iterations):
        (hv,) = torch.autograd.grad(grad, x, v * scale, retain_graph=True)
        hv = hv * scale
        top = (hv * v).sum(-1)
        norm = torch.linalg.vector_norm(hv, dim=-1, keepdim=True)
        v = torch.where(norm > 0, hv / norm.clamp_min(1e-300), v)
    return top.detach()


SETTLED = 1e-3  # a run is at its theory point when within this times (1 + ‖x*‖) of it


def settle_steps(distance: Sequence[float], steps_done: int, point_norm: float) -> int | None:
    """The step count by which a run at `distance` (its last values) from its theory point gets there.

    Extrapolates the distance's geometric shrink over the last values (an even number of them,
    so a zigzag's two sides average out) down to SETTLED·(1 + ‖x*‖), and doubles the steps still
    to go: a run slows down as it nears a minimum along a flat valley, so a straight extrapolation
    from the tail falls short (Rosenbrock's edge run at N=2000 extrapolates to 6000 steps and
    is still 0.05 away then). None when the distance does not shrink.
    """
    values = [d for d in distance if math.isfinite(d)]
    target = SETTLED * (1 + point_norm)
    if not values or values[-1] <= target:
        return steps_done
    m = 2 * ((len(values) - 1) // 2)
    if m < 2 or values[-1 - m] <= 0 or values[-1] >= values[-1 - m]:
        return None
    shrink = (values[-1] / values[-1 - m]) ** (1 / m)
    return steps_done + 2 * math.ceil(math.log(target / values[-1]) / math.log(shrink))


@dataclass(frozen=True)
class LocalModel:
    """What a run logs about its local quadratic model."""

    tags: dict[str, str]
    metrics: dict[str, float]
    point: Tensor | None = None  # the theory point (None: none found, f unbounded below)


def path_series(
    function: Landscape, piece: Trajectory, every: int = 0, preconditioners: dict[int, Tensor] | None = None
) -> dict[str, Any]:
    """The per-step theory series of one piece of a run (first lr), for streaming: `dist_to_opt`
    (distance to the nearest known minimiser) at every row; `sharpness` (λmax along the path) as
    {step: value} at the finite iterates whose step is a multiple of `every` (0: none); and, for
    Adam, `preconditioned_sharpness` (λmax of P⁻¹H, P = diag(√v̂) + eps) at the iterates whose
    preconditioner the rule recorded (taken out of `preconditioners`, so memory stays bounded)."""
    series: dict[str, Any] = {}
    x = piece.x[:, 0].detach().double().cpu()
    if function.minimizers:
        minimizers = torch.tensor(function.minimizers, dtype=torch.float64)
        series["dist_to_opt"] = torch.cdist(x, minimizers).amin(-1)
    last = piece.start + piece.steps
    if every:
        first = -(-piece.start // every) * every
        finite = [k for k in range(first, last + 1, every) if torch.isfinite(x[k - piece.start]).all()]
        if finite:
            rows = x[[k - piece.start for k in finite]]
            along = sharpness_along if x.shape[-1] <= curvature.FULL_HESSIAN_MAX else curvature.sharpness_path
            series["sharpness"] = dict(zip(finite, along(function.f, rows).tolist()))
    if preconditioners:
        here = [k for k in sorted(preconditioners) if piece.start <= k <= last]
        scales = [preconditioners.pop(k)[0] for k in here]
        kept = [(k, s) for k, s in zip(here, scales) if torch.isfinite(x[k - piece.start]).all()]
        if kept:
            rows = x[[k - piece.start for k, _ in kept]]
            scale = torch.stack([s for _, s in kept]).double().cpu().rsqrt()
            top = sharpness_along(function.f, rows, scale=scale).tolist()
            series["preconditioned_sharpness"] = dict(zip([k for k, _ in kept], top))
    return series


def local_model(
    function: Landscape,
    trajectory: Trajectory,
    converging: bool,
    lr: float,
    converged: bool = False,
    optimizer: OptimizerSpec = GD,
    start: Tensor | None = None,
    key: Hashable | None = None,
) -> LocalModel:
    """Theory next to the observation: λmax and the critical lr at the run's theory point.

    The theory point is where the run settled when it converged (the listed minimiser there,
    if any); the listed minimiser nearest the end of a run still converging towards it; and
    otherwise (no minimiser listed, or the run cycled or diverged) the local minimiser that
    descent from `start` (x0; the trajectory's first row by default) heads for, found by
    `heading_for` once per `key`. Unbounded below: theory_point=none, predicted_regime=unknown.
    Also the distance from the end to the theory point (metric theory_distance) with the step
    count by which a converging run should get there (settle_steps). The critical lr is the
    optimizer's edge (`edge_factor` / λmax).

    Reads only the last rows of `trajectory` (a whole run or its tail) and the start point, so a
    long run needs none of its middle; the per-step series stream through `path_series`.
    """
    x = trajectory.x[:, 0].detach().double().cpu()  # (rows, D): the run or its tail
    finite_end = bool(torch.isfinite(x[-1]).all())
    origin = (x[0] if start is None else start.detach().double().cpu()).reshape(-1)
    end = x[-1] if finite_end else origin
    listed = torch.tensor(function.minimizers, dtype=torch.float64) if function.minimizers else None
    if converged and finite_end:
        point, where = _snap(x[-1], listed, "last iterate")
    elif converging and listed is not None and finite_end:
        point, where = listed[torch.linalg.vector_norm(listed - end, dim=-1).argmin()], "minimiser"
    else:
        found = heading_for(function.f, origin, key)
        if found is None:
            return LocalModel({"predicted_regime": "unknown", "theory_point": "none"}, {})
        point, where = _snap(found, listed, "local minimiser")
    top = sharpness(function.f, point)
    metrics = {"lambda_max": top} if math.isfinite(top) else {}
    if math.isfinite(top) and top > 0 and math.isfinite(edge_factor(optimizer)):
        metrics["critical_lr"] = edge_factor(optimizer) / top
    if math.isfinite(top) and top > 0:
        metrics.update(curvature.best_fixed_step(function.f, point))
    if finite_end:
        distance = torch.linalg.vector_norm(x[-65:] - point, dim=-1).tolist()
        metrics["theory_distance"] = distance[-1]
        done = trajectory.start + trajectory.steps
        settle = settle_steps(distance, done, torch.linalg.vector_norm(point).item())
        if converging and settle is not None and settle > done:  # not there yet, but getting there
            metrics["settle_steps"] = float(settle)
    tags = {"predicted_regime": predicted_regime(lr, top, optimizer), "theory_point": _show_point(point, where)}
    return LocalModel(tags, metrics, point)


def _snap(point: Tensor, listed: Tensor | None, where: str) -> tuple[Tensor, str]:
    """The listed minimiser at `point` (within SETTLED), else the point itself, described as `where`."""
    if listed is not None:
        nearest = listed[torch.linalg.vector_norm(listed - point, dim=-1).argmin()]
        if torch.linalg.vector_norm(nearest - point) <= SETTLED * (1 + torch.linalg.vector_norm(nearest)):
            return nearest, "minimiser"
    return point, where


def _show_point(point: Tensor, where: str) -> str:
    shown = ", ".join(f"{v:.6g}" for v in point[:8].tolist())
    return f"{where} ({shown}{f', … ({point.numel()} values)' if point.numel() > 8 else ''})"
