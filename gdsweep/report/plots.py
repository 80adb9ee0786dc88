"""The sweep's pictures, from what MLflow holds: cost curves, the regime map, paths on f.

"Visualize, visualize, and visualize": the article teaches with the parabola, its slope lines
and the point swinging between two values; these figures draw the same for every lr of a sweep.
Headless: matplotlib's object API (Figure + the Agg canvas), never pyplot, so nothing global is
set up or kept; PNG. Each function returns the figure so tests can read its line data.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

COLORS = {"converging": "tab:green", "oscillating": "tab:orange", "diverging": "tab:red"}
OTHER = "tab:gray"  # failed runs
MAX_LABELLED = 12  # more curves than this get a legend by regime only
MAX_PANELS = 6

Surface = Callable[[np.ndarray], np.ndarray]  # points (M, D) -> costs (M,)


def run_data(lr: float, regime: str, rate: float | None, cost: list, x: list) -> dict:
    """What the figures read of one run: cost as (step, value) pairs, x as a list of points."""
    return {"lr": lr, "regime": regime, "rate": rate, "cost": cost, "x": x}


def single_run(run: dict, surface: Surface | None, slope: Surface | None) -> dict[str, Figure]:
    """(d) a single run's own cost curve and path."""
    figures = {"cost_curve.png": cost_curves([run])}
    path = paths([run], surface, slope)
    if path is not None:
        figures["path.png"] = path
    return figures


def save(figures: dict[str, Figure | None], folder) -> None:
    """Write each figure as PNG into folder."""
    for name, figure in figures.items():
        if figure is not None:
            figure.savefig(folder / name)


def subplots(*grid: int, figsize: tuple[float, float], **options) -> tuple[Figure, object]:
    """pyplot.subplots without pyplot: a Figure on an Agg canvas and its axes."""
    fig = Figure(figsize=figsize, dpi=100)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(*grid, **options)


def cost_curves(runs: list[dict]) -> Figure:
    """(a) cost against step for every lr, log scale, coloured by regime.

    Each run is a dict with lr, regime and the history `cost` (a list of (step, value)).
    """
    fig, ax = subplots(figsize=(8, 5))
    alpha = 1.0 if len(runs) <= MAX_LABELLED else max(0.15, 8 / len(runs))
    ordered = sorted(runs, key=lambda r: r["lr"])
    for run in ordered:
        steps, values = zip(*run["cost"]) if run["cost"] else ((), ())
        label = f"lr={run['lr']:g} ({run['regime']})" if len(runs) <= MAX_LABELLED else None
        color = _shade(run, [r for r in ordered if r["regime"] == run["regime"]])
        ax.plot(steps, values, color=color, alpha=alpha, label=label, gid=f"lr={run['lr']!r}")
    all_costs = [v for run in runs for _, v in run["cost"]]
    ax.set_yscale("log" if all_costs and min(all_costs) > 0 else "symlog")
    ax.set(xlabel="step k", ylabel="cost f(x_k)", title="Cost per step, one curve per learning rate")
    if len(runs) <= MAX_LABELLED:
        ax.legend(fontsize="small")
    else:
        ax.legend(handles=_regime_handles(), fontsize="small")
    fig.tight_layout()
    return fig


def regime_map(runs: list[dict], critical_lr: float | None) -> Figure:
    """(b) lr (log axis) against the per-step rate of the cost, with 1/λmax and 2/λmax marked.

    rate < 1: the cost shrinks (converging); = 1: it neither shrinks nor grows (oscillating);
    > 1: it grows (diverging). Theory puts the zigzag onset at 1/λmax and the edge at 2/λmax.
    """
    fig, ax = subplots(figsize=(8, 4.5))
    for regime, color in COLORS.items():
        chosen = [r for r in runs if r["regime"] == regime and r["rate"] is not None and math.isfinite(r["rate"])]
        ax.scatter([r["lr"] for r in chosen], [r["rate"] for r in chosen], color=color, label=regime, zorder=3)
    ax.axhline(1.0, color="black", linewidth=0.8, linestyle=":")
    theory_lines(ax, critical_lr)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set(xlabel="learning rate", ylabel="cost change per step (rate)", title="Regime map")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def theory_lines(ax, critical_lr: float | None) -> None:
    """Mark 1/λmax (zigzag onset) and 2/λmax (the edge) on an lr axis, when theory knows them."""
    if critical_lr:
        ax.axvline(critical_lr / 2, color="tab:blue", linestyle="--", label=f"1/λmax = {critical_lr / 2:.4g}")
        ax.axvline(critical_lr, color="tab:purple", linestyle="--", label=f"2/λmax = {critical_lr:.4g}")


def paths(runs: list[dict], surface: Surface | None, slope: Surface | None = None) -> Figure | None:
    """(c) the iterates on the function: 1-D curve with slope lines (one panel per lr), 2-D contours.

    Runs carry the iterate history `x` as a list of points; at most MAX_PANELS lrs are drawn,
    spread over the sweep. None when there is nothing drawable (no function, or n-D > 2).
    """
    drawn = [r for r in spread(sorted(runs, key=lambda r: r["lr"]), MAX_PANELS) if r.get("x")]
    if surface is None or not drawn or len(drawn[0]["x"][0]) > 2:
        return None
    if len(drawn[0]["x"][0]) == 1:
        return _paths_1d(drawn, surface, slope)
    return _paths_2d(drawn, surface)


def _paths_1d(runs: list[dict], surface: Surface, slope: Surface | None) -> Figure:
    fig, axes = subplots(1, len(runs), figsize=(3.6 * len(runs), 3.6), squeeze=False)
    for ax, run in zip(axes[0], runs):
        xs = np.array([p[0] for p in run["x"]])
        finite = xs[np.isfinite(xs)][:50]
        span = max(np.abs(finite).max(initial=1.0) * 1.15, 1e-3)
        grid = np.linspace(-span, span, 400)
        ax.plot(grid, surface(grid[:, None]), color="black", linewidth=1, gid="f")
        ys = surface(finite[:, None])
        ax.plot(finite, ys, "o-", color=COLORS.get(run["regime"], OTHER), markersize=4, linewidth=0.8, gid="iterates")
        if slope is not None:
            for x, y, s in list(zip(finite, ys, slope(finite[:, None])))[:8]:
                dx = span * 0.15
                ax.plot([x - dx, x + dx], [y - s * dx, y + s * dx], color="tab:blue", linewidth=0.8, alpha=0.7)
        ax.set_ylim(min(surface(grid[:, None]).min(), ys.min()) - 0.05 * span, surface(grid[:, None]).max() * 1.05)
        ax.set(title=f"lr={run['lr']:g}: {run['regime']}", xlabel="x", ylabel="f(x)")
    fig.suptitle("Iterates on f with their slope lines")
    fig.tight_layout()
    return fig


def _paths_2d(runs: list[dict], surface: Surface) -> Figure:
    fig, ax = subplots(figsize=(7, 6))
    points = np.array([p for r in runs for p in r["x"] if np.isfinite(p).all() and np.abs(p).max() < 1e6])
    low, high = points.min(0), points.max(0)
    margin = np.maximum((high - low) * 0.15, 0.5)
    gx, gy = np.meshgrid(*(np.linspace(low[i] - margin[i], high[i] + margin[i], 200) for i in (0, 1)))
    z = surface(np.stack([gx.ravel(), gy.ravel()], -1)).reshape(gx.shape)
    levels = np.quantile(z[np.isfinite(z)], np.linspace(0, 1, 25) ** 2)
    ax.contour(gx, gy, z, levels=np.unique(levels), cmap="Greys", linewidths=0.6)
    for run in runs:
        xy = np.array([p for p in run["x"] if np.isfinite(p).all() and np.abs(p).max() < 1e6])
        ax.plot(xy[:, 0], xy[:, 1], ".-", markersize=3, linewidth=0.8, label=f"lr={run['lr']:g} ({run['regime']})")
    ax.set(xlabel="x[0]", ylabel="x[1]", title="Descent paths on the contours of f")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def _shade(run: dict, same_regime: list[dict]) -> tuple:
    """The regime's colour, darker for larger lrs, so curves of one regime stay apart."""
    maps = {"converging": "Greens", "oscillating": "Oranges", "diverging": "Reds"}
    if run["regime"] not in maps or len(same_regime) == 1:
        return matplotlib.colors.to_rgba(COLORS.get(run["regime"], OTHER))
    position = same_regime.index(run) / (len(same_regime) - 1)
    return matplotlib.colormaps[maps[run["regime"]]](0.45 + 0.5 * position)


def spread(items: list, count: int = MAX_PANELS) -> list:
    """At most `count` items, evenly spread, first and last included."""
    if len(items) <= count:
        return items
    return [items[round(i * (len(items) - 1) / (count - 1))] for i in range(count)]


def _regime_handles() -> list[Line2D]:
    return [Line2D([], [], color=color, label=regime) for regime, color in COLORS.items()]
