"""The real data the models are fitted to: scikit-learn's bundled datasets, nothing downloaded.

Preprocessing is fixed (README, "Real models"): take the first `n_samples` rows in the loader's
order, standardise every feature to mean 0 and population standard deviation 1 over those rows
(as scikit-learn's StandardScaler does: a constant feature is centred and left at 0), standardise a
regression target the same way, keep class labels as indices 0..C-1. The bias is the models' own
(a column of ones for the linear models, nn.Linear's bias in the MLP).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from gdsweep.errors import GdsweepError

REGRESSION, CLASSIFICATION = "regression", "classification"
TASKS = {
    "diabetes": REGRESSION,
    "breast_cancer": CLASSIFICATION,
    "iris": CLASSIFICATION,
    "wine": CLASSIFICATION,
    "digits": CLASSIFICATION,
}


@dataclass(frozen=True)
class Dataset:
    """Standardised features (n, p) in float64, targets (n,): float64 values or int64 class indices."""

    name: str
    task: str  # regression | classification
    features: Tensor
    target: Tensor
    classes: int  # number of classes of the whole dataset; 0 for regression

    @property
    def n_samples(self) -> int:
        return self.features.shape[0]

    @property
    def n_features(self) -> int:
        return self.features.shape[1]


def standardise(values: Tensor) -> Tensor:
    """Mean 0, population std 1 per column; a constant column is only centred (StandardScaler's rule)."""
    centred = values - values.mean(0)
    std = values.std(0, correction=0)
    return centred / torch.where(std > 0, std, torch.ones_like(std))


def load(name: Any, n_samples: Any = None) -> Dataset:
    """The dataset `function.dataset` names, its first `function.n_samples` rows (None: all), preprocessed."""
    if name not in TASKS:
        raise GdsweepError(
            "function.dataset", f"no bundled dataset {name!r}", f"use function.dataset=NAME, one of: {', '.join(TASKS)}"
        )
    from sklearn import datasets as bundled  # ~0.2 s, only when a model is asked for

    features, target = getattr(bundled, f"load_{name}")(return_X_y=True)
    total, classes = len(target), int(target.max()) + 1 if TASKS[name] == CLASSIFICATION else 0
    if n_samples is not None:
        if not isinstance(n_samples, int) or isinstance(n_samples, bool) or not 2 <= n_samples <= total:
            raise GdsweepError(
                "function.n_samples",
                f"{n_samples!r} is not a whole number from 2 to {total} ({name} has {total} samples)",
                f"use e.g. function.n_samples={min(100, total)}, or function.n_samples=null for all",
            )
        features, target = features[:n_samples], target[:n_samples]
    x = standardise(torch.as_tensor(features, dtype=torch.float64))
    if TASKS[name] == REGRESSION:
        return Dataset(name, REGRESSION, x, standardise(torch.as_tensor(target, dtype=torch.float64)[:, None])[:, 0], 0)
    return Dataset(name, CLASSIFICATION, x, torch.as_tensor(target, dtype=torch.int64), classes)
