"""Named objectives, chosen by the `function` config group (`function=NAME`).

Each one knows its formula, its dimension (None: taken from x0) and, from the standard tables
(Surjanovic & Bingham's Virtual Library of Simulation Experiments), its global minimisers and
minimum value. Every f maps points (B, D) to one cost per row, (B,) or (B, 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from gdsweep.core.descent import Objective
from gdsweep.errors import GdsweepError
from gdsweep.objectives.models import MODELS


@dataclass(frozen=True)
class Function:
    """An objective with what a user needs to know about it."""

    name: str
    formula: str
    f: Objective
    dim: int | None = None  # None: any dimension, taken from x0
    minimizers: tuple[tuple[float, ...], ...] = ()  # known global minimisers; () when unknown
    minimum: float | None = None  # known global minimum value
    model: Any = None  # a model on a dataset (objectives.models.Model): its start point, series, params


def as_numpy(function: Function) -> tuple[Callable, Callable]:
    """f and its first partial derivative as numpy functions of points (M, D), in float64: what
    the plots draw the curve and the slope lines with."""

    def surface(points):
        with torch.no_grad():
            return function.f(torch.as_tensor(points, dtype=torch.float64)).reshape(-1).numpy()

    def slope(points):
        x = torch.as_tensor(points, dtype=torch.float64).clone().requires_grad_(True)
        function.f(x).sum().backward()
        return x.grad[:, 0].numpy()

    return surface, slope


def coordinate_sum(terms: Tensor) -> Tensor:
    """Sum per-coordinate terms (B, D) into one cost per row; in 1-D the column itself."""
    return terms if terms.shape[-1] == 1 else terms.sum(-1)


def _root(g: Callable[[float], float], dg: Callable[[float], float], x: float) -> float:
    """Newton's method in float64: the minimisers below that have no closed form."""
    for _ in range(60):
        x -= g(x) / dg(x)
    return x


def _quadratic(p: Mapping[str, Any], d: int) -> Function:
    return Function("quadratic", "Σ x_i²", lambda x: coordinate_sum(x**2), None, ((0.0,) * d,), 0.0)


def _scaled_quadratic(p: Mapping[str, Any], d: int) -> Function:
    a = float(p.get("a", 1.0))
    return Function("scaled_quadratic", f"{a:g} · Σ x_i²", lambda x: a * coordinate_sum(x**2), None, ((0.0,) * d,), 0.0)


def _ill_conditioned(p: Mapping[str, Any], d: int) -> Function:
    eigenvalues = [float(v) for v in p.get("eigenvalues", [1.0, 100.0])]

    def f(x: Tensor) -> Tensor:
        return 0.5 * coordinate_sum(torch.tensor(eigenvalues, dtype=x.dtype, device=x.device) * x**2)

    n = len(eigenvalues)
    return Function("ill_conditioned", f"½ Σ λ_i x_i², λ = {eigenvalues}", f, n, ((0.0,) * n,), 0.0)


def _quartic(p: Mapping[str, Any], d: int) -> Function:
    return Function("quartic", "Σ x_i⁴", lambda x: coordinate_sum(x**4), None, ((0.0,) * d,), 0.0)


def _double_well(p: Mapping[str, Any], d: int) -> Function:
    star = _root(lambda x: 4 * x**3 - 6 * x + 1, lambda x: 12 * x**2 - 6, -1.3)
    f = lambda x: coordinate_sum(x**4 - 3 * x**2 + x)
    return Function("double_well", "x⁴ − 3x² + x", f, 1, ((star,),), star**4 - 3 * star**2 + star)


def _rosenbrock(p: Mapping[str, Any], d: int) -> Function:
    def f(x: Tensor) -> Tensor:
        return (100 * (x[:, 1:] - x[:, :-1] ** 2) ** 2 + (1 - x[:, :-1]) ** 2).sum(-1)

    return Function("rosenbrock", "Σ 100 (x_{i+1} − x_i²)² + (1 − x_i)²", f, None, ((1.0,) * d,), 0.0)


def _himmelblau(p: Mapping[str, Any], d: int) -> Function:
    def f(x: Tensor) -> Tensor:
        a, b = x[:, 0], x[:, 1]
        return (a**2 + b - 11) ** 2 + (a + b**2 - 7) ** 2

    minimizers = ((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126))
    return Function("himmelblau", "(x² + y − 11)² + (x + y² − 7)²", f, 2, minimizers, 0.0)


def _beale(p: Mapping[str, Any], d: int) -> Function:
    def f(x: Tensor) -> Tensor:
        a, b = x[:, 0], x[:, 1]
        return (1.5 - a + a * b) ** 2 + (2.25 - a + a * b**2) ** 2 + (2.625 - a + a * b**3) ** 2

    return Function("beale", "(1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)²", f, 2, ((3.0, 0.5),), 0.0)


def _booth(p: Mapping[str, Any], d: int) -> Function:
    def f(x: Tensor) -> Tensor:
        a, b = x[:, 0], x[:, 1]
        return (a + 2 * b - 7) ** 2 + (2 * a + b - 5) ** 2

    return Function("booth", "(x + 2y − 7)² + (2x + y − 5)²", f, 2, ((1.0, 3.0),), 0.0)


def _matyas(p: Mapping[str, Any], d: int) -> Function:
    def f(x: Tensor) -> Tensor:
        a, b = x[:, 0], x[:, 1]
        return 0.26 * (a**2 + b**2) - 0.48 * a * b

    return Function("matyas", "0.26 (x² + y²) − 0.48 xy", f, 2, ((0.0, 0.0),), 0.0)


def _three_hump_camel(p: Mapping[str, Any], d: int) -> Function:
    def f(x: Tensor) -> Tensor:
        a, b = x[:, 0], x[:, 1]
        return 2 * a**2 - 1.05 * a**4 + a**6 / 6 + a * b + b**2

    return Function("three_hump_camel", "2x² − 1.05x⁴ + x⁶/6 + xy + y²", f, 2, ((0.0, 0.0),), 0.0)


def _rastrigin(p: Mapping[str, Any], d: int) -> Function:
    f = lambda x: (10 + x**2 - 10 * torch.cos(2 * math.pi * x)).sum(-1)
    return Function("rastrigin", "10d + Σ (x_i² − 10 cos 2πx_i)", f, None, ((0.0,) * d,), 0.0)


def _ackley(p: Mapping[str, Any], d: int) -> Function:
    def f(x: Tensor) -> Tensor:
        n = x.shape[-1]
        root = torch.sqrt((x**2).sum(-1) / n)
        return -20 * torch.exp(-0.2 * root) - torch.exp(torch.cos(2 * math.pi * x).sum(-1) / n) + math.e + 20

    formula = "−20 exp(−0.2 √(Σx_i²/d)) − exp(Σ cos(2πx_i)/d) + e + 20"
    return Function("ackley", formula, f, None, ((0.0,) * d,), 0.0)


def _styblinski_tang(p: Mapping[str, Any], d: int) -> Function:
    star = _root(lambda x: 4 * x**3 - 32 * x + 5, lambda x: 12 * x**2 - 32, -2.9)
    f = lambda x: 0.5 * (x**4 - 16 * x**2 + 5 * x).sum(-1)
    minimum = d * 0.5 * (star**4 - 16 * star**2 + 5 * star)
    return Function("styblinski_tang", "½ Σ (x_i⁴ − 16x_i² + 5x_i)", f, None, ((star,) * d,), minimum)


REGISTRY: dict[str, Callable[[Mapping[str, Any], int], Function]] = {
    "quadratic": _quadratic,
    "scaled_quadratic": _scaled_quadratic,
    "ill_conditioned": _ill_conditioned,
    "quartic": _quartic,
    "double_well": _double_well,
    "rosenbrock": _rosenbrock,
    "himmelblau": _himmelblau,
    "beale": _beale,
    "booth": _booth,
    "matyas": _matyas,
    "three_hump_camel": _three_hump_camel,
    "rastrigin": _rastrigin,
    "ackley": _ackley,
    "styblinski_tang": _styblinski_tang,
}


def build(config: Mapping[str, Any], dim: int) -> Function:
    """The objective a `function` config node names, checked against the dimension of x0."""
    name = config.get("name")
    if name in MODELS:  # a model on a dataset: the data loads now
        return Function(name, **MODELS[name](config))
    if name == "expr":
        from gdsweep.objectives.expressions import compile_expression

        return Function("expr", str(config.get("expr")), compile_expression(config.get("expr"), dim))
    if name not in REGISTRY:
        known = ", ".join(sorted([*REGISTRY, *MODELS, "expr"]))
        raise GdsweepError("function.name", f"unknown function {name!r}", f"use function=NAME, one of: {known}")
    try:
        function = REGISTRY[name](config, dim)
    except (TypeError, ValueError) as err:  # a parameter that is not a number (function.a=abc)
        keys = ", ".join(f"function.{k}" for k in config if k not in ("name", "x0")) or "function"
        first = keys.split(", ")[0]
        example = "[1,100]" if isinstance(config.get(first.removeprefix("function.")), (list, tuple)) else "1"
        raise GdsweepError(keys, f"{err}", f"give numbers, e.g. {first}={example}") from None
    if function.dim is not None and function.dim != dim:
        raise GdsweepError(
            "x0",
            f"{name} is {function.dim}-D but x0 has {dim} values",
            f"give x0 a list of {function.dim} numbers, e.g. x0=[{','.join(['0'] * function.dim)}]",
        )
    if name == "rosenbrock" and dim < 2:
        raise GdsweepError("x0", "rosenbrock needs at least 2 dimensions", "give e.g. x0=[-1.2,1.0]")
    return function
