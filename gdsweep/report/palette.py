"""The regime colours: one definition for the report's figures and MLflow's charts (tag `mlflow.runColor`).

Greens for converging, oranges for oscillating, reds for diverging, grey for a run without a
regime (failed). Inside a regime, runs are shaded by learning rate, lighter for smaller lrs, so two
converging runs stay apart; a regime with one run gets its plain colour. Pure Python: hex strings,
no matplotlib, so the jobs that tag runs import it for free. The ramps are ColorBrewer's Greens,
Oranges and Reds (matplotlib's colormaps of those names).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable

BASE = {"converging": "#2ca02c", "oscillating": "#ff7f0e", "diverging": "#d62728"}  # matplotlib's tab: colours
OTHER = "#7f7f7f"  # tab:gray: a run with no regime (failed)
RAMPS = {
    "converging": ("#f7fcf5", "#e5f5e0", "#c7e9c0", "#a1d99b", "#74c476", "#41ab5d", "#238b45", "#006d2c", "#00441b"),
    "oscillating": ("#fff5eb", "#fee6ce", "#fdd0a2", "#fdae6b", "#fd8d3c", "#f16913", "#d94801", "#a63603", "#7f2704"),
    "diverging": ("#fff5f0", "#fee0d2", "#fcbba1", "#fc9272", "#fb6a4a", "#ef3b2c", "#cb181d", "#a50f15", "#67000d"),
}
LIGHTEST, DARKEST = 0.45, 0.85  # the part of each ramp used: light enough to see on white, not yet brown


def color(regime: str | None) -> str:
    """The regime's plain colour (grey when there is none)."""
    return BASE.get(regime or "", OTHER)


def shade(regime: str, position: float) -> str:
    """The regime's ramp at position 0 (lightest used) … 1 (darkest used), as #rrggbb."""
    anchors = RAMPS[regime]
    where = (LIGHTEST + (DARKEST - LIGHTEST) * min(max(position, 0.0), 1.0)) * (len(anchors) - 1)
    low = min(int(where), len(anchors) - 2)
    fraction = where - low
    a, b = _rgb(anchors[low]), _rgb(anchors[low + 1])
    return "#" + "".join(f"{round(x + (y - x) * fraction):02x}" for x, y in zip(a, b))


def colors(runs: Iterable[tuple[Hashable, str | None, float]]) -> dict[Hashable, str]:
    """(key, regime, lr) of each run of a sweep -> its colour: shaded by lr inside its regime.

    Runs of one regime are ranked by lr (ties keep their order; an lr that is not a number
    comes last); the smallest gets the lightest shade, the largest the darkest.
    """
    runs = list(runs)
    found: dict[Hashable, str] = {}
    for regime in {r for _, r, _ in runs}:
        members = [(key, lr) for key, r, lr in runs if r == regime]
        if regime not in RAMPS or len(members) == 1:
            found.update({key: color(regime) for key, _ in members})
            continue
        members.sort(key=lambda m: (not _finite(m[1]), m[1] if _finite(m[1]) else 0.0))
        for rank, (key, _) in enumerate(members):
            found[key] = shade(regime, rank / (len(members) - 1))
    return found


def _rgb(hex_color: str) -> tuple[int, int, int]:
    return tuple(int(hex_color[i : i + 2], 16) for i in (1, 3, 5))


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
