"""What the local quadratic model predicts: Hessian, sharpness λmax and the critical lr 2/λmax.

Near a minimum x*, f ≈ f(x*) + ½ (x − x*)ᵀ H (x − x*), and gradient descent on that model is
monotone for lr < 1/λmax, zigzags but converges up to 2/λmax, cycles at 2/λmax and diverges above.
Pure torch: Hessians by autograd, and for the sharpness along a path Hessian-vector products
with power iteration, so it scales past tiny dimensions.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gdsweep.descent import Objective


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
