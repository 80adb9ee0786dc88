"""What the local quadratic model predicts: Hessian, sharpness λmax and the critical lr 2/λmax.

Near a minimum x*, f ≈ f(x*) + ½ (x − x*)ᵀ H (x − x*), and gradient descent on that model is
monotone for lr < 1/λmax, zigzags but converges up to 2/λmax, cycles at 2/λmax and diverges above.
Pure torch: Hessians by autograd, and for the sharpness along a path Hessian-vector products
with power iteration, so it scales past tiny dimensions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor

from gdsweep.core.descent import Objective, Trajectory


class Landscape(Protocol):
    """What the theory needs of an objective: f, and its known minimisers (() when unknown)."""

    f: Objective
    minimizers: Sequence[Sequence[float]]


def hessian(f: Objective, point: Tensor) -> Tensor:
    """The Hessian (D, D) of f at one point (D,), by autograd."""
    return torch.autograd.functional.hessian(lambda v: f(v.unsqueeze(0)).sum(), point)


def sharpness(f: Objective, point: Tensor) -> float:
    """λmax, the largest eigenvalue of the Hessian at `point` (nan where f is not twice differentiable)."""
    h = hessian(f, point.detach().double())
    if not torch.isfinite(h).all():
        return math.nan
    return torch.linalg.eigvalsh((h + h.T) / 2).max().item()


def predicted_regime(lr: float, top: float) -> str:
    """What GD on the local quadratic model does at this lr: monotone, zigzag, oscillating, diverging."""
    if not math.isfinite(top):
        return "unknown"
    if lr * top < 1:
        return "monotone"
    if lr * top < 2:
        return "zigzag"
    return "oscillating" if lr * top == 2 else "diverging"


def sharpness_along(f: Objective, points: Tensor, iterations: int = 50) -> Tensor:
    """λmax at each of M points (M, D) by power iteration on Hessian-vector products, batched.

    Returns the Rayleigh quotient of the dominant eigenvector, i.e. the eigenvalue of largest
    magnitude, as edge-of-stability studies report it (Cohen et al., ICLR 2021).
    """
    x = points.detach().double().requires_grad_(True)
    (grad,) = torch.autograd.grad(f(x).sum(), x, create_graph=True)
    v = torch.randn_like(x, generator=torch.Generator().manual_seed(0))
    v = v / torch.linalg.vector_norm(v, dim=-1, keepdim=True)
    top = torch.zeros(x.shape[0], dtype=x.dtype)
    for _ in range(iterations):
        (hv,) = torch.autograd.grad(grad, x, v, retain_graph=True)
        top = (hv * v).sum(-1)
        norm = torch.linalg.vector_norm(hv, dim=-1, keepdim=True)
        v = torch.where(norm > 0, hv / norm.clamp_min(1e-300), v)
    return top.detach()


@dataclass(frozen=True)
class LocalModel:
    """What a run logs about its local quadratic model."""

    tags: dict[str, str]
    metrics: dict[str, float]
    series: dict[str, Any]


def path_series(function: Landscape, piece: Trajectory, every: int = 0) -> dict[str, Any]:
    """The per-step theory series of one piece of a run (first lr), for streaming: `dist_to_opt`
    (distance to the nearest known minimiser) at every row, and `sharpness` (λmax along the path)
    as {step: value} at the finite iterates whose step is a multiple of `every` (0: none)."""
    series: dict[str, Any] = {}
    x = None
    if function.minimizers:
        x = piece.x[:, 0].detach().double().cpu()
        minimizers = torch.tensor(function.minimizers, dtype=torch.float64)
        series["dist_to_opt"] = torch.cdist(x, minimizers).amin(-1)
    if every:
        first = -(-piece.start // every) * every
        steps = list(range(first, piece.start + piece.steps + 1, every))
        if steps:
            x = piece.x[:, 0].detach().double().cpu() if x is None else x
            finite = [k for k in steps if torch.isfinite(x[k - piece.start]).all()]
            if finite:
                rows = x[[k - piece.start for k in finite]]
                series["sharpness"] = dict(zip(finite, sharpness_along(function.f, rows).tolist()))
    return series


def local_model(
    function: Landscape,
    trajectory: Trajectory,
    converging: bool,
    lr: float,
    every: int = 0,
    converged: bool = False,
    start: Tensor | None = None,
) -> LocalModel:
    """Theory next to the observation: λmax and the critical lr 2/λmax at the minimum the run
    is about (the known minimiser nearest its end; the point it settled in when that is another
    well; the last iterate of a converging run when no minimiser is known).

    Reads only the last iterate of `trajectory` (a whole run or its tail) and the start point
    (`start`, else the trajectory's first row), so a long run needs none of its middle. Given
    `every`, the trajectory is taken as the whole run and its path series (`dist_to_opt`,
    `sharpness`: see path_series) come along in `series`.
    """
    x_end = trajectory.x[-1, 0].detach().double().cpu()
    x_start = (trajectory.x[0, 0] if start is None else start.reshape(-1)).detach().double().cpu()
    end = x_end if torch.isfinite(x_end).all() else x_start
    series = path_series(function, trajectory, every) if every else {}
    point, where = (x_end, "last iterate") if converging else (None, "")
    if function.minimizers:
        minimizers = torch.tensor(function.minimizers, dtype=torch.float64)
        nearest = minimizers[torch.linalg.vector_norm(minimizers - end, dim=-1).argmin()]
        elsewhere = torch.linalg.vector_norm(nearest - end) > 1e-3 * (1 + torch.linalg.vector_norm(nearest))
        if not (converged and elsewhere):  # a run settled in a well that is not a listed minimum
            point, where = nearest, "minimiser"
    if point is None:
        return LocalModel({}, {}, series)
    top = sharpness(function.f, point)
    metrics = {"lambda_max": top} if math.isfinite(top) else {}
    if math.isfinite(top) and top > 0:
        metrics["critical_lr"] = 2 / top
    tags = {"predicted_regime": predicted_regime(lr, top), "theory_point": _show_point(point, where)}
    return LocalModel(tags, metrics, series)


def _show_point(point: Tensor, where: str) -> str:
    return f"{where} ({', '.join(f'{v:.6g}' for v in point.tolist())})"
