"""Curvature of objectives too big for a dense Hessian: power iteration on Hessian-vector products.

A closed-form function has a handful of coordinates and theory forms its Hessian exactly; an MLP
has thousands (3466 for digits 64-32-32-10), where the Hessian would take as many backward
passes. Past FULL_HESSIAN_MAX coordinates λmax comes from power iteration on Hessian-vector
products (double backward), and the sharpness along a path is warm-started from the previous
point's eigenvector (Cohen et al., ICLR 2021, track it the same way). Pure torch.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gdsweep.core.descent import Objective

FULL_HESSIAN_MAX = 256  # coordinates up to which the Hessian is formed and diagonalised exactly
POWER_ITERATIONS = 300  # a cap; power iteration stops when λ changes by less than POWER_TOL
POWER_TOL = 1e-7
PATH_ITERATIONS = 20  # per point along a path, warm-started (the sharpness moves little between points)


def _hvp(f: Objective, point: Tensor):
    """v -> H v at one point (D,), in float64, by double backward (the graph is built once)."""
    x = point.detach().double().reshape(1, -1).requires_grad_(True)
    (grad,) = torch.autograd.grad(f(x).sum(), x, create_graph=True)

    def product(v: Tensor) -> Tensor:
        (hv,) = torch.autograd.grad(grad, x, v.reshape(1, -1), retain_graph=True)
        return hv.reshape(-1)

    return product


def _power(product, v: Tensor, iterations: int, tol: float) -> tuple[float, Tensor]:
    """The Rayleigh quotient of the dominant eigenvector (largest |λ|) and that vector."""
    v = v / torch.linalg.vector_norm(v)
    top = math.nan
    for _ in range(iterations):
        hv = product(v)
        value = torch.dot(hv, v).item()
        norm = torch.linalg.vector_norm(hv)
        if not math.isfinite(value) or norm == 0:
            return value, v
        v = hv / norm
        if abs(value - top) <= tol * abs(value):
            return value, v
        top = value
    return top, v


def top_eigenvalue(f: Objective, point: Tensor, iterations: int = POWER_ITERATIONS) -> float:
    """λmax (largest |λ|) of the Hessian at `point` (D,) by power iteration; nan where it is not finite."""
    start = torch.randn(point.numel(), dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    value, _ = _power(_hvp(f, point), start, iterations, POWER_TOL)
    return value if math.isfinite(value) else math.nan


def extremes(f: Objective, point: Tensor) -> tuple[float, float]:
    """(λmin, λmax) of the Hessian at `point`: exact up to FULL_HESSIAN_MAX coordinates; past that
    λmin is nan (power iteration would need thousands of products to resolve it)."""
    point = point.detach().double().reshape(-1)
    if point.numel() > FULL_HESSIAN_MAX:
        return math.nan, top_eigenvalue(f, point)
    h = torch.autograd.functional.hessian(lambda v: f(v.unsqueeze(0)).sum(), point)
    if not torch.isfinite(h).all():
        return math.nan, math.nan
    values = torch.linalg.eigvalsh((h + h.T) / 2)
    return values.min().item(), values.max().item()


def best_fixed_step(f: Objective, point: Tensor) -> dict[str, float]:
    """Theory's best fixed lr on the local quadratic model, 2/(λmin + λmax), where the Hessian is
    positive definite (it minimises max_i |1 − lr·λ_i|): metrics lambda_min and best_fixed_lr."""
    low, top = extremes(f, point)
    if not (math.isfinite(low) and low > 0 and math.isfinite(top)):
        return {}
    return {"lambda_min": low, "best_fixed_lr": 2 / (low + top)}


def at_start(f: Objective, point: Tensor) -> dict[str, float]:
    """λmax at the start point (metric lambda_max_init) and 2/λmax there (critical_lr_init)."""
    top = extremes(f, point)[1] if point.numel() <= FULL_HESSIAN_MAX else top_eigenvalue(f, point)
    if not math.isfinite(top):
        return {}
    return {"lambda_max_init": top, **({"critical_lr_init": 2 / top} if top > 0 else {})}


def sharpness_path(f: Objective, points: Tensor, iterations: int = PATH_ITERATIONS) -> Tensor:
    """λmax (largest |λ|) at each of M points (M, D), one after the other, each power iteration
    warm-started from the previous point's eigenvector; the first gets POWER_ITERATIONS."""
    v = torch.randn(points.shape[-1], dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    found = []
    for i, point in enumerate(points):
        value, v = _power(_hvp(f, point), v, POWER_ITERATIONS if i == 0 else iterations, POWER_TOL)
        found.append(value)
    return torch.tensor(found, dtype=torch.float64)
