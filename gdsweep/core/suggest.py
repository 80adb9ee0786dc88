"""The suggested learning rate of a dense scan: the LR-range test's question answered by measurement.

Among the lrs that converge, the one whose cost falls fastest over the run: the lr that first gets
its gradient norm within `regime.grad_tol` (ties: the lower final cost); when no lr gets there in
N steps, the one with the lowest final cost. Theory's answer to put next to it is the best fixed
step of the local quadratic model, 2/(λmin + λmax) (core.curvature.best_fixed_step). Pure torch.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gdsweep.core.descent import Trajectory
from gdsweep.core.regimes import CONVERGING


class FirstReached:
    """Per lr, the first step whose gradient norm is within `grad_tol`; fed every piece in order."""

    def __init__(self, grad_tol: float) -> None:
        self.grad_tol = grad_tol
        self.step: Tensor | None = None  # (B,) float64, inf where not reached yet

    def __call__(self, piece: Trajectory) -> None:
        within = piece.grad_norm <= self.grad_tol  # (K, B)
        row = within.view(torch.uint8).argmax(0)  # the first row within, where there is one: one byte a step
        first = torch.where(within.any(0), piece.start + row.double(), math.inf).cpu()
        if self.step is None:
            self.step = first
        elif piece.columns is None:
            torch.minimum(self.step, first, out=self.step)
        else:  # the descent dropped some columns (`retire`): the others sit at piece.columns
            columns = piece.columns.cpu()
            self.step[columns] = torch.minimum(self.step[columns], first)


def suggested_lr(lrs: list[float], regimes: list[str], reached: Tensor | None, final_cost: list[float]) -> float | None:
    """The converging lr that reaches the tolerance first (ties: lower final cost), else the converging
    lr with the lowest final cost; None when no lr converges."""
    steps = reached.tolist() if reached is not None else [math.inf] * len(lrs)
    candidates = [
        (step, cost, lr)
        for lr, regime, step, cost in zip(lrs, regimes, steps, final_cost)
        if regime == CONVERGING and math.isfinite(cost)
    ]
    return min(candidates)[2] if candidates else None
