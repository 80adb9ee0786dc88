"""Real models on real data: least squares, logistic regression and a tanh MLP, as objectives.

Each builder returns the fields of its `functions.Function` (this module does not import that one).
Same contract as every function: f maps a batch of flat parameter vectors (B, D) to costs (B,),
one row per learning rate, rows independent. A row is unflattened into its weight tensors by
views (no copy) and the batch goes through batched matrix products (`baddbmm`), so B models cost
one set of kernels per step. Each model also knows its start point (zeros, or PyTorch's default
nn.Linear initialisation under `function.seed`), what it logs per step, and its params.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from gdsweep.errors import GdsweepError
from gdsweep.objectives import datasets
from gdsweep.objectives.datasets import CLASSIFICATION, REGRESSION, Dataset

LOSSES = ("mse", "ce")
CPU_ROWS = 8  # MLP rows per batched product on a CPU: a group's activations stay in cache
SERIES_ROWS = 64  # iterates evaluated at once for the per-step series (bounds the activations held)


@dataclass(frozen=True)
class Model:
    """What a model adds to its Function: start point, per-step series, params, work per row."""

    start: tuple[float, ...]
    params: dict[str, Any]  # logged next to the config: data size, architecture
    outputs: Callable[[Tensor], Tensor]  # points (M, D) -> predictions (M, n, out) or (M, n)
    classifier: bool
    target: Tensor
    work: int = 0  # multiply-adds per row per forward: how big one step is (threads=auto reads it)

    def series(self, points: Tensor) -> dict[str, list[float]]:
        """param_norm (and accuracy for a classifier) of each iterate (M, D), as lists."""
        found: dict[str, list[float]] = {"param_norm": torch.linalg.vector_norm(points, dim=-1).tolist()}
        if self.classifier:
            accuracy = []
            with torch.no_grad():
                for rows in points.split(SERIES_ROWS):
                    out = self.outputs(rows)
                    guess = out.argmax(-1) if out.dim() == 3 else (out > 0).long()
                    accuracy.append((guess == self.target.to(guess.device)).double().mean(-1))
            found["accuracy"] = torch.cat(accuracy).tolist()
        return found


class _Data:
    """A tensor in float64 on the CPU, handed out in the caller's dtype and device (cached)."""

    def __init__(self, value: Tensor) -> None:
        self.value, self._copies = value, {}

    def like(self, x: Tensor) -> Tensor:
        key = (x.dtype, x.device)
        if key not in self._copies:
            self._copies[key] = self.value.to(
                dtype=x.dtype if self.value.is_floating_point() else None, device=x.device
            )
        return self._copies[key]


def _with_bias(data: Dataset) -> Tensor:
    return torch.cat([data.features, torch.ones(data.n_samples, 1, dtype=torch.float64)], 1)


def _require(data: Dataset, task: str, name: str, other: str, dataset: str) -> None:
    if data.task != task:
        raise GdsweepError(
            "function.dataset",
            f"{data.name} is a {data.task} dataset; {name} needs a {task} one",
            f"use function.dataset={dataset}, or function={other}",
        )


def _data_params(data: Dataset, n_params: int, architecture: str) -> dict[str, Any]:
    return {
        "data.n_samples": data.n_samples,
        "data.n_features": data.n_features,
        "data.classes": data.classes,
        "model.n_params": n_params,
        "model.architecture": architecture,
    }


def linear_regression(p: Mapping[str, Any]) -> dict[str, Any]:
    """½ · mean (x̃ᵀw − y)², x̃ = features and a 1 for the bias; minimiser by least squares (exact)."""
    data = datasets.load(p.get("dataset", "diabetes"), p.get("n_samples"))
    _require(data, REGRESSION, "linear_regression", "logistic_regression", "diabetes")
    design = _with_bias(data)
    x_tilde = _Data(design)

    def outputs(w: Tensor) -> Tensor:
        return w @ x_tilde.like(w).T  # (B, n)

    # ½·mean (x̃ᵀw − y)² = ½ wᵀGw − bᵀw + c with G = X̃ᵀX̃/n, b = X̃ᵀy/n, c = ½·mean y² (the sufficient
    # statistics, in float64): a step costs D² per lr instead of n·D, so a 1000-lr scan is cheap.
    gram, moment = _Data(design.T @ design / data.n_samples), _Data(design.T @ data.target / data.n_samples)
    half_mean_square = 0.5 * (data.target**2).mean().item()

    def f(w: Tensor) -> Tensor:
        return 0.5 * ((w @ gram.like(w)) * w).sum(-1) - w @ moment.like(w) + half_mean_square

    star = torch.linalg.pinv(design) @ data.target  # the (minimum-norm) least-squares solution
    dim = design.shape[1]
    minimum = 0.5 * ((design @ star - data.target) ** 2).mean().item()
    model = Model(
        (0.0,) * dim,
        _data_params(data, dim, f"linear {data.n_features}+bias -> 1"),
        outputs,
        False,
        data.target,
        data.n_samples * dim,
    )
    formula = f"½ · mean (x̃ᵀw − y)² on {data.name} ({data.n_samples} × {data.n_features} + bias)"
    return {
        "formula": formula,
        "f": f,
        "dim": dim,
        "minimizers": (tuple(star.tolist()),),
        "minimum": minimum,
        "model": model,
    }


def logistic_regression(p: Mapping[str, Any]) -> dict[str, Any]:
    """Mean cross-entropy of a linear model: binary (one weight vector) or multinomial (one per class)."""
    data = datasets.load(p.get("dataset", "breast_cancer"), p.get("n_samples"))
    _require(data, CLASSIFICATION, "logistic_regression", "linear_regression", "breast_cancer")
    design = _with_bias(data)
    x_tilde, labels = _Data(design), _Data(data.target)
    width = design.shape[1]
    binary = data.classes == 2

    def outputs(w: Tensor) -> Tensor:
        if binary:
            return w @ x_tilde.like(w).T  # (B, n) logits of class 1
        weights = w.view(w.shape[0], data.classes, width)
        return torch.matmul(x_tilde.like(w), weights.transpose(1, 2))  # (B, n, C)

    def f(w: Tensor) -> Tensor:
        out, y = outputs(w), labels.like(w)
        if binary:
            return (torch.nn.functional.softplus(out) - y.to(out.dtype) * out).mean(-1)
        return (torch.logsumexp(out, -1) - out.gather(-1, y.expand(out.shape[0], -1)[..., None])[..., 0]).mean(-1)

    dim = width * (1 if binary else data.classes)
    kind = "binary" if binary else f"multinomial ({data.classes} classes)"
    model = Model(
        (0.0,) * dim,
        _data_params(data, dim, f"linear {data.n_features}+bias -> {kind}"),
        outputs,
        True,
        data.target,
        data.n_samples * dim,
    )
    formula = f"mean cross-entropy, {kind}, on {data.name} ({data.n_samples} × {data.n_features} + bias)"
    return {"formula": formula, "f": f, "dim": dim, "model": model}


def _initial_weights(sizes: list[int], seed: int) -> Tensor:
    """PyTorch's default nn.Linear initialisation of every layer, under `seed`, flattened as
    parameters_to_vector orders it (W row-major, then b, layer by layer). The global RNG is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers = [torch.nn.Linear(a, b, dtype=torch.float64) for a, b in itertools.pairwise(sizes)]
        return torch.nn.utils.parameters_to_vector([p for layer in layers for p in layer.parameters()]).detach()


def mlp(p: Mapping[str, Any]) -> dict[str, Any]:
    """A tanh MLP with `function.hidden` layers; loss `mse` (½·mean ‖f(x) − onehot(y)‖²) or `ce`."""
    data = datasets.load(p.get("dataset", "digits"), p.get("n_samples"))
    hidden, loss, seed = p.get("hidden", [32, 32]), p.get("loss", "mse"), p.get("seed", 0)
    if not isinstance(hidden, (list, tuple)) or not all(isinstance(h, int) and h >= 1 for h in hidden):
        raise GdsweepError(
            "function.hidden", f"{hidden!r} is not a list of layer widths", "use e.g. function.hidden=[32,32]"
        )
    if loss not in LOSSES:
        raise GdsweepError("function.loss", f"{loss!r} is not a loss", "use function.loss=mse or function.loss=ce")
    if loss == "ce" and data.task == REGRESSION:
        raise GdsweepError(
            "function.loss", f"ce needs classes and {data.name} is a regression dataset", "use function.loss=mse"
        )
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise GdsweepError("function.seed", f"{seed!r} is not a whole number", "use e.g. function.seed=0")
    classifier = data.task == CLASSIFICATION
    sizes = [data.n_features, *hidden, data.classes if classifier else 1]
    shapes = list(itertools.pairwise(sizes))
    features, labels = _Data(data.features), _Data(data.target)
    goal = _Data(
        torch.nn.functional.one_hot(data.target, data.classes).double() if classifier else data.target[:, None]
    )

    def outputs(w: Tensor) -> Tensor:
        batch, at = w.shape[0], 0
        h = features.like(w).expand(batch, -1, -1)
        for i, (fan_in, fan_out) in enumerate(shapes):
            weight = w[:, at : at + fan_out * fan_in].view(batch, fan_out, fan_in)
            bias = w[:, at + fan_out * fan_in : at + fan_out * (fan_in + 1)].view(batch, 1, fan_out)
            at += fan_out * (fan_in + 1)
            h = torch.baddbmm(bias, h, weight.transpose(1, 2))
            if i < len(shapes) - 1:
                h = torch.tanh(h)
        return h  # (B, n, out)

    def f(w: Tensor) -> Tensor:
        if w.device.type == "cpu" and w.shape[0] > CPU_ROWS:  # groups that keep activations in cache
            return torch.cat([f(rows) for rows in w.split(CPU_ROWS)])
        out = outputs(w)
        if loss == "mse":
            return 0.5 * ((out - goal.like(w)) ** 2).sum(-1).mean(-1)
        y = labels.like(w).expand(out.shape[0], -1)[..., None]
        return (torch.logsumexp(out, -1) - out.gather(-1, y)[..., 0]).mean(-1)

    start = _initial_weights(sizes, seed)
    dim = start.numel()
    architecture = f"{'-'.join(map(str, sizes))} tanh, {loss}"
    model = Model(
        tuple(start.tolist()),
        _data_params(data, dim, architecture),
        outputs,
        classifier,
        data.target,
        data.n_samples * sum(a * b for a, b in shapes),
    )
    formula = f"MLP {architecture} on {data.name} ({data.n_samples} samples), nn.Linear init under seed {seed}"
    return {"formula": formula, "f": f, "dim": dim, "model": model}


MODELS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "linear_regression": linear_regression,
    "logistic_regression": logistic_regression,
    "mlp": mlp,
}
