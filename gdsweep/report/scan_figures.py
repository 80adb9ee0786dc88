"""A dense scan's pictures: the bifurcation diagram and the regime strip.

The bifurcation diagram puts lr on the x axis and the last iterates of each lr above it: one
point where GD converges, two for a 2-cycle, four after period doubling, a smear for chaos.
With 10⁴ lrs it is drawn as a density image (a 2-D histogram), which stays fast and light.
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from gdsweep.report.plots import COLORS, OTHER, subplots, theory_lines

REGIME_CODES = {regime: code for code, regime in enumerate(COLORS)}  # converging 0, oscillating 1, diverging 2


COLUMNS = 800  # density columns of the bifurcation diagram (the 9-inch figure is 900 pixels wide)
MARKS = {"suggested_lr": ("suggested lr", "tab:green", "-."), "best_fixed_lr": ("2/(λmin+λmax)", "black", ":")}


def figures(
    lrs: np.ndarray,
    iterates: np.ndarray,
    regimes: list[str],
    critical_lr: float | None,
    log: bool,
    edge: str = "2/λmax",
    marks: dict[str, float] | None = None,
) -> dict:
    """lrs (B,), iterates (K, B): the last K values of the first coordinate; name -> figure.

    edge: the formula of critical_lr (another optimizer's, e.g. 2(1+β)/λmax, is marked alone).
    marks: suggested_lr (measured) and best_fixed_lr (theory), drawn on both figures when given."""
    found = {
        "bifurcation.png": bifurcation(lrs, iterates, regimes, critical_lr, log, edge),
        "regime_strip.png": _strip_figure(lrs, regimes, critical_lr, log, edge),
    }
    for figure in found.values():
        for ax in figure.axes:
            for key, value in (marks or {}).items():
                label, color, style = MARKS[key]
                ax.axvline(value, color=color, linestyle=style, linewidth=1.2, label=f"{label} = {value:.4g}", gid=key)
        if marks:
            figure.axes[0].legend(fontsize="small", loc="upper left")
    return found


def bifurcation(
    lrs: np.ndarray,
    iterates: np.ndarray,
    regimes: list[str],
    critical_lr: float | None,
    log: bool,
    edge: str = "2/λmax",
) -> Figure:
    """lr against the last iterates (density), with the regime strip underneath on the same axis."""
    fig, (top, strip) = subplots(2, 1, figsize=(9, 6), sharex=True, gridspec_kw={"height_ratios": [6, 1]})
    values = np.asarray(iterates, dtype=np.float64)
    lr_rows = np.broadcast_to(lrs, values.shape)
    bounded = np.isfinite(values) & (np.asarray(regimes) != "diverging")[None, :]
    if bounded.any():
        low, high = np.percentile(values[bounded], [0.5, 99.5])
        pad = max(high - low, 1e-9) * 0.05
        x_edges = _edges(lrs, log)
        if len(x_edges) > COLUMNS + 1:  # more lrs than the figure has pixels: neighbouring lrs share a column
            x_edges = x_edges[np.linspace(0, len(x_edges) - 1, COLUMNS + 1).round().astype(int)]
        y_edges = np.linspace(low - pad, high + pad, 300)
        counts, _, _ = np.histogram2d(lr_rows[bounded], values[bounded], bins=[x_edges, y_edges])
        top.pcolormesh(x_edges, y_edges, np.log1p(counts.T), cmap="Greys", shading="flat", rasterized=True)
    theory_lines(top, critical_lr, edge)
    top.set(ylabel=f"last {values.shape[0]} iterates x_k", title="Bifurcation diagram: where the iterates settle")
    if critical_lr:
        top.legend(fontsize="small", loc="upper left")
    regime_strip(strip, lrs, regimes, critical_lr, log, edge)
    fig.tight_layout()
    return fig


def regime_strip(
    ax, lrs: np.ndarray, regimes: list[str], critical_lr: float | None, log: bool, edge: str = "2/λmax"
) -> None:
    """The lr axis coloured by regime, with 1/λmax and 2/λmax marked."""
    codes = np.array([[REGIME_CODES.get(r, len(COLORS)) for r in regimes]], dtype=float)
    cmap = ListedColormap([*COLORS.values(), OTHER])
    ax.pcolormesh(_edges(lrs, log), [0, 1], codes, cmap=cmap, vmin=-0.5, vmax=len(COLORS) + 0.5, rasterized=True)
    theory_lines(ax, critical_lr, edge)
    ax.set(xscale="log" if log else "linear", xlabel="learning rate", yticks=[])
    handles = [Patch(color=color, label=regime) for regime, color in COLORS.items()]
    ax.legend(handles=handles, fontsize="x-small", loc="center left", bbox_to_anchor=(1.01, 0.5))


def _strip_figure(
    lrs: np.ndarray, regimes: list[str], critical_lr: float | None, log: bool, edge: str = "2/λmax"
) -> Figure:
    fig, ax = subplots(figsize=(9, 2.2))
    regime_strip(ax, lrs, regimes, critical_lr, log, edge)
    ax.set_title("Regime of every learning rate")
    fig.tight_layout()
    return fig


def _edges(lrs: np.ndarray, log: bool) -> np.ndarray:
    """Bin edges halfway between neighbouring lrs (geometrically on a log axis)."""
    centres = np.log(lrs) if log else np.asarray(lrs, dtype=np.float64)
    middle = (centres[1:] + centres[:-1]) / 2
    edges = np.concatenate([[2 * centres[0] - middle[0]], middle, [2 * centres[-1] - middle[-1]]])
    return np.exp(edges) if log else edges
