"""The lr × momentum stability map: the regime of every (lr, β) pair, with theory's edge drawn over it.

One image cell per pair, coloured by regime (converging split by path: monotone, spiral,
zigzag, in shades of green), and the curve lr = edge(β)/λmax where the local quadratic model
stops converging: 2(1+β)/λmax for heavy ball, 2(1+β)/((1+2β)λmax) for torch's Nesterov.
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from gdsweep.report.plots import COLORS, subplots
from gdsweep.report.scan_figures import _edges

CLASSES = {
    "monotone": "#1b7837",
    "spiral": "#5aae61",
    "zigzag": "#a6dba0",
    "oscillating": COLORS["oscillating"],
    "diverging": COLORS["diverging"],
}


def stability_map(
    lrs: np.ndarray,
    momenta: np.ndarray,
    regimes: list[list[str]],
    paths: list[list[str | None]],
    edge: np.ndarray | None,
    log: bool,
    title: str,
    underdamped: tuple[np.ndarray, np.ndarray] | None = None,
) -> Figure:
    """lrs (B,), momenta (M,), regimes and paths (M rows of B); edge (M,): theory's edge lr per β;
    underdamped: the lr bounds (low, high) per β of theory's spiral band (heavy ball)."""
    names = list(CLASSES)
    codes = np.array(
        [
            [
                names.index(p if r == "converging" and p in CLASSES else r) if r in COLORS else len(names)
                for r, p in zip(rr, pp)
            ]
            for rr, pp in zip(regimes, paths)
        ],
        dtype=float,
    )
    fig, ax = subplots(figsize=(8, 5))
    cmap = ListedColormap([*CLASSES.values(), "tab:gray"])
    ax.pcolormesh(
        _edges(lrs, log), _edges(momenta, False), codes, cmap=cmap, vmin=-0.5, vmax=len(names) + 0.5, rasterized=True
    )
    handles = [
        Patch(color=color, label=name if name in COLORS else f"converging, {name}") for name, color in CLASSES.items()
    ]
    if edge is not None and np.isfinite(edge).any():
        (line,) = ax.plot(edge, momenta, color="black", linewidth=2, label="theory edge")
        handles.append(line)
    if underdamped is not None:
        for bound in underdamped:
            (dashed,) = ax.plot(bound, momenta, color="black", linestyle="--", linewidth=1)
        dashed.set_label("spiral band (theory)")
        handles.append(dashed)
    ax.set(xscale="log" if log else "linear", xlabel="learning rate", ylabel="momentum β", title=title)
    ax.set_xlim(_edges(lrs, log)[[0, -1]])
    ax.legend(handles=handles, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig
