"""Named objectives, chosen by the `function` config group (`function=NAME`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from torch import Tensor

from gdsweep.descent import Objective
from gdsweep.errors import GdsweepError


@dataclass(frozen=True)
class Function:
    """An objective with what a user needs to know about it."""

    name: str
    formula: str
    f: Objective
    dim: int | None = None  # None: any dimension, taken from x0
    minimum: float | None = None  # known global minimum value


def coordinate_sum(terms: Tensor) -> Tensor:
    """Sum per-coordinate terms (B, D) into one cost per row; in 1-D the column itself."""
    return terms if terms.shape[-1] == 1 else terms.sum(-1)


def _quadratic(params: Mapping[str, Any]) -> Function:
    return Function("quadratic", "x**2", lambda x: coordinate_sum(x**2), minimum=0.0)


REGISTRY: dict[str, Callable[[Mapping[str, Any]], Function]] = {"quadratic": _quadratic}


def build(config: Mapping[str, Any], dim: int) -> Function:
    """The objective a `function` config node names, checked against the dimension of x0."""
    name = config.get("name")
    if name not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise GdsweepError("function.name", f"unknown function {name!r}", f"use function=NAME, one of: {known}")
    function = REGISTRY[name](config)
    if function.dim is not None and function.dim != dim:
        raise GdsweepError(
            "x0", f"{name} is {function.dim}-D but x0 has {dim} values", f"give x0 a list of {function.dim} numbers"
        )
    return function
