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

from gdsweep.report import palette

COLORS = palette.BASE  # regime -> colour, the same in MLflow's charts (tag mlflow.runColor)
OTHER = palette.OTHER  # failed runs
MAX_LABELLED = 12  # more curves than this get a legend by regime only
MAX_PANELS = 6

Surface = Callable[[np.ndarray], np.ndarray]  # points (M, D) -> costs (M,)


def run_data(lr: float, regime: str, rate: float | None, cost: list, x: list) -> dict:
    """What the figures read of one run: cost as (step, value) pairs, x as a list of points."""
    return {"lr": lr, "regime": regime, "rate": rate, "cost": cost, "x": x}


def single_run(
    run: dict, surface: Surface | None, slope: Surface | None, f_star: float | None = None, minimizers=()
) -> dict[str, Figure]:
    """(d) a single run's own cost curve and path."""
    figures = {"cost_curve.png": cost_curves([run], f_star)}
    path = paths([run], surface, slope, minimizers)
    if path is not None:
        figures["path.png"] = path
    if run.get("sharpness"):
        figures["sharpness.png"] = sharpness([run])
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


def cost_curves(runs: list[dict], f_star: float | None = None) -> Figure:
    """(a) the gap to the minimum, f(x_k) − f*, against step for every lr, log scale, coloured by regime.

    Each run is a dict with lr, regime and the history `cost` (a list of (step, value)). f* is
    the function's minimum when known, else the lowest cost of the sweep's converging and
    oscillating runs. The y-range follows those runs; a diverging curve leaves the frame, and a
    triangle marks the step where it does (gid `exit lr=…`), so 1e37 never flattens the rest.
    """
    fig, ax = subplots(figsize=(8, 5))
    alpha = 1.0 if len(runs) <= MAX_LABELLED else max(0.15, 8 / len(runs))
    ordered = sorted(runs, key=lambda r: r["lr"])
    shades = palette.colors((index, run["regime"], run["lr"]) for index, run in enumerate(ordered))
    framing = [r for r in ordered if r["regime"] in ("converging", "oscillating")] or ordered
    finite = [v for r in framing for _, v in r["cost"] if math.isfinite(v)]
    known = f_star is not None and math.isfinite(f_star)
    base = f_star if known else min(finite, default=0.0)
    gaps = [v - base for r in framing for _, v in r["cost"] if math.isfinite(v) and v - base > 0]
    floor = min(gaps, default=1.0)
    low, high = floor / 3, max(gaps, default=1.0) * 3
    for index, run in enumerate(ordered):
        steps = [s for s, _ in run["cost"]]
        values = [max(v - base, floor) if math.isfinite(v) else math.nan for _, v in run["cost"]]
        label = f"lr={run['lr']:g} ({run['regime']})" if len(runs) <= MAX_LABELLED else None
        color = shades[index]
        ax.plot(steps, values, color=color, alpha=alpha, label=label, gid=f"lr={run['lr']!r}")
        if run not in framing:  # a diverging run: where does it leave the frame, above or below?
            exit_at = _exit(steps, [v - base for _, v in run["cost"]], low, high)
            if exit_at is not None:
                marker = "^" if exit_at[1] == high else "v"
                ax.plot(*exit_at, marker=marker, color=color, clip_on=False, gid=f"exit lr={run['lr']!r}")
    ax.set_yscale("log")
    ax.set_ylim(low, high)
    what = "f(x_k) − f*" if known else "f(x_k) − lowest cost of the sweep"
    ax.set(xlabel="step k", ylabel=what, title="Gap to the minimum per step, one curve per learning rate")
    if len(runs) <= MAX_LABELLED:
        ax.legend(fontsize="small")
    else:
        ax.legend(handles=_regime_handles(), fontsize="small")
    fig.tight_layout()
    return fig


def _exit(steps: list, gaps: list[float], low: float, high: float) -> tuple[int, float] | None:
    """The first step whose gap is above the frame (or not finite), or below it: (step, edge)."""
    for step, gap in zip(steps, gaps):
        if not gap <= high:
            return step, high
        if gap < low:
            return step, low
    return None


def regime_map(runs: list[dict], critical_lr: float | None, edge: str = "2/λmax") -> Figure:
    """(b) lr (log axis) against the per-step rate of the cost, with 1/λmax and 2/λmax marked.

    rate < 1: the cost shrinks (converging); = 1: it neither shrinks nor grows (oscillating);
    > 1: it grows (diverging). Theory puts the zigzag onset at 1/λmax and the edge at 2/λmax.
    """
    fig, ax = subplots(figsize=(8, 4.5))
    for regime, color in COLORS.items():
        chosen = [r for r in runs if r["regime"] == regime and r["rate"] is not None and math.isfinite(r["rate"])]
        ax.scatter([r["lr"] for r in chosen], [r["rate"] for r in chosen], color=color, label=regime, zorder=3)
    ax.axhline(1.0, color="black", linewidth=0.8, linestyle=":")
    theory_lines(ax, critical_lr, edge)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set(xlabel="learning rate", ylabel="cost change per step (rate)", title="Regime map")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def sharpness(runs: list[dict]) -> Figure | None:
    """(e) λmax along the path against step for every run that tracked it, each with its 2/lr line:
    the edge of stability is where the curve climbs to its line and stays there (Cohen et al. 2021).

    Each run carries `sharpness` as (step, value) pairs; None when no run has any.
    """
    tracked = sorted([r for r in runs if r.get("sharpness")], key=lambda r: r["lr"])
    if not tracked:
        return None
    fig, ax = subplots(figsize=(8, 4.5))
    colors = matplotlib.colormaps["viridis"](np.linspace(0, 0.85, len(tracked)))
    for run, color in zip(tracked, colors):
        steps, values = zip(*run["sharpness"])
        ax.plot(
            steps,
            values,
            color=color,
            linewidth=1.2,
            label=f"lr={run['lr']:g} ({run['regime']})",
            gid=f"lr={run['lr']!r}",
        )
        ax.axhline(
            2 / run["lr"],
            color=color,
            linestyle="--",
            linewidth=0.9,
            label=f"2/lr = {2 / run['lr']:.4g}",
            gid=f"2/lr={run['lr']!r}",
        )
    ax.set(xlabel="step k", ylabel="sharpness λmax(x_k)", title="Sharpness along the path; dashed: 2/lr")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def theory_lines(ax, critical_lr: float | None, edge: str = "2/λmax") -> None:
    """Mark 1/λmax (zigzag onset) and 2/λmax (the edge) on an lr axis, when theory knows them.

    Another optimizer's edge (`edge` names its formula, e.g. 2(1+β)/λmax) is marked alone."""
    if critical_lr and edge != "2/λmax":
        ax.axvline(critical_lr, color="tab:purple", linestyle="--", label=f"{edge} = {critical_lr:.4g}")
    elif critical_lr:
        ax.axvline(critical_lr / 2, color="tab:blue", linestyle="--", label=f"1/λmax = {critical_lr / 2:.4g}")
        ax.axvline(critical_lr, color="tab:purple", linestyle="--", label=f"2/λmax = {critical_lr:.4g}")


def paths(runs: list[dict], surface: Surface | None, slope: Surface | None = None, minimizers=()) -> Figure | None:
    """(c) the iterates on the function: 1-D curve with slope lines (one panel per lr), 2-D contours.

    Runs carry the iterate history `x` as a list of points; at most MAX_PANELS lrs are drawn,
    spread over the sweep. None when there is nothing drawable (no function, or n-D > 2). Every
    panel shows the function's own window (x0, the listed minimisers and where the converging
    and oscillating runs went); a diverging run is drawn until it leaves that window, and a
    marker on the window's edge (gid `exit`) says where it went.
    """
    drawn = [r for r in spread(sorted(runs, key=lambda r: r["lr"]), MAX_PANELS) if r.get("x")]
    if surface is None or not drawn or len(drawn[0]["x"][0]) > 2:
        return None
    dim = len(drawn[0]["x"][0])  # a sweep over x0 can mix dimensions: draw those of the first
    drawn = [r for r in drawn if len(r["x"][0]) == dim]
    same = [r for r in runs if r.get("x") and len(r["x"][0]) == dim]
    low, high = window(same, [m for m in minimizers if len(m) == dim])
    if len(drawn[0]["x"][0]) == 1:
        return _paths_1d(drawn, surface, slope, low[0], high[0])
    return _paths_2d(drawn, surface, low, high)


def window(runs: list[dict], minimizers=()) -> tuple[np.ndarray, np.ndarray]:
    """The function's own window: start points, listed minimisers, the points of runs that did not
    diverge, with a 15 % margin (at least 0.5 a side when they all coincide)."""
    points = [r["x"][0] for r in runs if r.get("x")] + [list(m) for m in minimizers]
    points += [p for r in runs if r["regime"] != "diverging" for p in r.get("x", [])]
    array = np.array([p for p in points if np.isfinite(p).all()], dtype=float)
    low, high = array.min(0), array.max(0)
    margin = np.maximum((high - low) * 0.15, 0.5)
    return low - margin, high + margin


def _inside(run: dict, low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """The run's points up to the first one outside the window, and where it went (None: it stayed)."""
    xs = np.array(run["x"], dtype=float)
    out = ~(np.isfinite(xs).all(-1) & (xs >= low).all(-1) & (xs <= high).all(-1))
    if not out.any():
        return xs, None
    first = int(out.argmax())
    finite = xs[np.isfinite(xs).all(-1)]
    return xs[:first], (finite[-1] if len(finite) else xs[first])


def _paths_1d(runs: list[dict], surface: Surface, slope: Surface | None, low: float, high: float) -> Figure:
    fig, axes = subplots(1, len(runs), figsize=(3.6 * len(runs), 3.6), squeeze=False)
    grid = np.linspace(low, high, 400)
    curve = surface(grid[:, None])
    for ax, run in zip(axes[0], runs):
        kept, went = _inside(run, np.array([low]), np.array([high]))
        finite = kept[:50, 0]
        ax.plot(grid, curve, color="black", linewidth=1, gid="f")
        ys = surface(finite[:, None])
        color = COLORS.get(run["regime"], OTHER)
        ax.plot(finite, ys, "o-", color=color, markersize=4, linewidth=0.8, gid="iterates")
        if slope is not None:
            dx = (high - low) * 0.075
            for x, y, s in list(zip(finite, ys, slope(finite[:, None])))[:8]:
                ax.plot([x - dx, x + dx], [y - s * dx, y + s * dx], color="tab:blue", linewidth=0.8, alpha=0.7)
        top, bottom = np.nanmax(curve), min(np.nanmin(curve), ys.min(initial=np.inf))
        pad = 0.05 * (top - bottom or 1.0)
        ax.set_ylim(bottom - pad, top + pad)
        ax.set_xlim(low, high)
        if went is not None:
            edge = high if went[0] > high else low
            y = np.clip(surface(np.array([[edge]]))[0], bottom, top)
            ax.plot(
                [edge], [y], marker=">" if edge == high else "<", color=color, markersize=10, clip_on=False, gid="exit"
            )
            ax.annotate(f"→ x={went[0]:.3g}", (edge, y), textcoords="offset points", xytext=(-60, 10), fontsize="small")
        ax.set(title=f"lr={run['lr']:g}: {run['regime']}", xlabel="x", ylabel="f(x)")
    fig.suptitle("Iterates on f with their slope lines")
    fig.tight_layout()
    return fig


def _paths_2d(runs: list[dict], surface: Surface, low: np.ndarray, high: np.ndarray) -> Figure:
    fig, ax = subplots(figsize=(7, 6))
    gx, gy = np.meshgrid(*(np.linspace(low[i], high[i], 200) for i in (0, 1)))
    z = surface(np.stack([gx.ravel(), gy.ravel()], -1)).reshape(gx.shape)
    levels = np.quantile(z[np.isfinite(z)], np.linspace(0, 1, 25) ** 2)
    ax.contour(gx, gy, z, levels=np.unique(levels), cmap="Greys", linewidths=0.6)
    for run in runs:
        xy, went = _inside(run, low, high)
        label = f"lr={run['lr']:g} ({run['regime']})"
        (line,) = ax.plot(xy[:, 0], xy[:, 1], ".-", markersize=3, linewidth=0.8, label=label, gid="iterates")
        if went is not None:
            edge = np.clip(went, low, high)
            ax.plot(*edge, marker="X", color=line.get_color(), markersize=9, clip_on=False, gid="exit")
            ax.annotate(f"→ ({went[0]:.3g}, {went[1]:.3g})", edge, fontsize="small")
    ax.set_xlim(low[0], high[0])
    ax.set_ylim(low[1], high[1])
    ax.set(xlabel="x[0]", ylabel="x[1]", title="Descent paths on the contours of f")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def spread(items: list, count: int = MAX_PANELS) -> list:
    """At most `count` items, evenly spread, first and last included."""
    if len(items) <= count:
        return items
    return [items[round(i * (len(items) - 1) / (count - 1))] for i in range(count)]


def _regime_handles() -> list[Line2D]:
    return [Line2D([], [], color=color, label=regime) for regime, color in COLORS.items()]
