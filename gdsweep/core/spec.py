"""Validated run settings as plain dataclasses: what the config means once checked.

No torch, Hydra or MLflow here, so the schema, the validator and the classifier can share
these types without paying for each other's imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Tolerances:
    """The thresholds the regime labels use (README, "Regimes")."""

    grad_tol: float = 1e-6  # converged: final gradient norm at most this
    cost_tol: float = 1e-6  # rounding noise allowed per step in "cost keeps falling/rising", relative to 1+|cost|
    cycle_tol: float = 1e-4  # a p-cycle: |x_k - x_(k-p)| at most this times the largest step in the window
    max_period: int = 16  # longest cycle looked for


@dataclass(frozen=True)
class OptimizerSpec:
    """Which update rule, with PyTorch's hyper-parameters (README, "Optimizers")."""

    name: str = "gd"  # gd | momentum | nesterov | adam
    momentum: float = 0.0  # momentum, nesterov: β of torch.optim.SGD(momentum=β, dampening=0)
    betas: tuple[float, float] = (0.9, 0.999)  # adam
    eps: float = 1e-8  # adam


@dataclass(frozen=True)
class RunSpec:
    """One job's settings, checked and converted: every field is ready to use."""

    function: dict[str, Any]
    x0: tuple[float, ...]
    lr: float
    N: int
    device: str
    dtype: str
    tolerances: Tolerances = field(default_factory=Tolerances)
    track_sharpness_every: int = 0  # 0: off; K: log λmax along the path every K steps
    chunk_steps: int = 1000  # steps between two flushes to MLflow
    optimizer: OptimizerSpec = field(default_factory=OptimizerSpec)
    threads: int = 0  # torch CPU threads; 0: auto (one for small problems)
    max_points: int = 2000  # most points per metric history (0: every step); the table artifact has every step


@dataclass(frozen=True)
class ScanSpec:
    """A dense scan (every lr of a grid in one batched descent) or an edge search (bisection)."""

    mode: str  # dense | edge
    lr_min: float
    lr_max: float
    num: int  # dense: lrs in the grid; edge: lrs per bisection round
    spacing: str  # log | linear
    tail: int  # last steps kept per lr: the labels and the bifurcation diagram read these
    rel_tol: float  # edge: stop when (hi - lo) / lo is at most this
    momenta: tuple[float, ...] = ()  # dense: a second axis, every (lr, β) pair (momentum and nesterov)
