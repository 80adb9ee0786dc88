"""The terminal table printed after a plain run: lr, regime, final cost, rate, and the theory columns
the sweep table has (critical_lr, predicted_regime). (A sweep prints its report.)"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One run as the table shows it."""

    lr: float
    regime: str
    final_cost: float | None = None  # None when the cost left the floating-point range
    rate: float | None = None  # per-step factor of the cost change over the tail
    detail: str = ""  # path / period / error
    optimizer: str = "gd"  # gd | momentum | nesterov | adam
    critical_lr: float | None = None  # the optimizer's edge at the theory point (None: no theory point, or flat)
    predicted: str | None = None  # predicted_regime: what the local quadratic model says at this lr


def format_table(rows: list[Row]) -> str:
    """Rows sorted by lr (by optimizer first), columns aligned; the optimizer shows unless every row is gd."""
    header = ("optimizer", "lr", "regime", "final cost", "rate", "detail", "critical_lr", "predicted_regime")
    body = [
        (
            r.optimizer,
            f"{r.lr:g}",
            r.regime,
            _cost(r.final_cost),
            _rate(r.rate),
            r.detail or "-",
            _critical(r.critical_lr),
            r.predicted or "-",
        )
        for r in sorted(rows, key=lambda r: (r.optimizer, _lr_key(r)))
    ]
    if all(r.optimizer == "gd" for r in rows):
        header, body = header[1:], [cells[1:] for cells in body]
    widths = [max(len(cells[i]) for cells in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip() for cells in [header, *body]]
    return "\n".join(lines)


def describe(path: str | None, period: int, converged: bool) -> str:
    """The detail column: how a run converged, or the period of its cycle."""
    if path:
        return f"{path}, converged" if converged else path
    if period:
        return f"period {period}"
    return ""


def _cost(value: float | None) -> str:
    if value is None or math.isinf(value):
        return "inf"
    return "-" if math.isnan(value) else f"{value:.6g}"


def _rate(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.4g}"


def _critical(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.6g}"


def _lr_key(row: Row) -> float:
    return row.lr if math.isfinite(row.lr) else math.inf
