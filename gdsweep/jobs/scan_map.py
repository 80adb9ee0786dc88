"""The lr × momentum stability map: `scan=dense optimizer=momentum scan.momenta=[…]`.

Every (lr, β) pair is one row of ONE batched descent (the rule holds one β per row), labelled
like any scan; the map is drawn over the (lr, β) plane with theory's edge curve, and the
largest converging lr per β goes to `scan/stability_map.csv` next to theory's edge.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import torch

from gdsweep.core import optimizers, theory
from gdsweep.core.scan import Progress, converges, descend_tail, grid
from gdsweep.core.spec import ScanSpec
from gdsweep.jobs.runner import Job

TABLE = "stability_map.csv"
COLUMNS = ("lr", "momentum", "regime", "path", "period", "converged", "final_cost", "rate")
PRINTED = 12  # at most this many β rows are printed (spread over the axis); the CSV has them all


def lr_momentum_map(
    job: Job,
    scan: ScanSpec,
    x0: torch.Tensor,
    progress: Progress,
    folder: Path,
    theory_at: Callable[[float], theory.LocalModel],
) -> tuple[dict[str, float], list[str]]:
    """Run the map; write scan.csv, stability_map.csv and stability_map.png into folder.

    theory_at(lr) gives the local model where a run at lr settles (λmax for the edge curve).
    """
    from gdsweep.report import plots, stability_map

    optimizer = job.spec.optimizer
    lrs = grid(scan.lr_min, scan.lr_max, scan.num, scan.spacing, job.dtype, job.device)
    momenta = torch.tensor(scan.momenta, dtype=torch.float64).to(job.dtype).to(job.device)
    width = len(lrs)
    lr_rows, beta_rows = lrs.repeat(len(momenta)), momenta.repeat_interleave(width)
    rule = optimizers.rule(optimizer, lr_rows, beta_rows)
    tol = job.spec.tolerances
    scanned = descend_tail(job.function.f, x0, lr_rows, job.spec.N, min(scan.tail, job.spec.N), tol, progress, rule)
    labels = scanned.labels
    rows = [slice(i * width, (i + 1) * width) for i in range(len(momenta))]
    lr, betas = lrs.double().cpu().tolist(), momenta.double().cpu().tolist()
    stable = [_stable_lr(lr, list(zip(labels.regime[r], labels.path[r]))) for r in rows]
    found = [s for s in stable if s is not None]
    model = theory_at(min(found) / 2 if found else scan.lr_min)
    top = model.metrics.get("lambda_max", math.nan)
    edges = [theory.edge_factor(optimizer, b) / top if top > 0 else math.nan for b in betas]
    _write(folder / "scan.csv", COLUMNS, _per_pair(lr, betas, labels, scanned.tail.cost[-1].tolist()))
    _write(
        folder / TABLE,
        ("momentum", "stable_lr_max", "theory_edge_lr", "ratio"),
        [(b, _blank(s), _blank(e), _blank(s / e if s and e > 0 else None)) for b, s, e in zip(betas, stable, edges)],
    )
    name = theory.edge_formula(optimizer)
    plots.save(
        {
            "stability_map.png": stability_map.stability_map(
                lrs.double().cpu().numpy(),
                momenta.double().cpu().numpy(),
                [labels.regime[r] for r in rows],
                [labels.path[r] for r in rows],
                None if math.isnan(top) else _edge_array(edges),
                scan.spacing == "log",
                f"{optimizer.name} on {job.spec.function['name']}, N={job.spec.N}: theory edge {name}",
                _underdamped(betas, top) if optimizer.name == "momentum" and top > 0 else None,
            )
        },
        folder,
    )
    counts = Counter(labels.regime)
    metrics = {
        "lrs": float(width),
        "momenta": float(len(betas)),
        **{f"n_{r}": float(counts[r]) for r in ("converging", "oscillating", "diverging")},
        **{k: v for k, v in model.metrics.items() if k == "lambda_max"},
    }
    lines = [
        f"  {width} lrs from {lr[0]:g} to {lr[-1]:g} ({scan.spacing}) × {len(betas)} momenta = {len(lr_rows)} runs: "
        + ", ".join(f"{counts[r]} {r}" for r in ("converging", "oscillating", "diverging"))
    ]
    shown = sorted({round(i * (len(betas) - 1) / max(1, PRINTED - 1)) for i in range(min(PRINTED, len(betas)))})
    for i in shown:
        theory_note = f"; theory {name} = {edges[i]:.6g}" if math.isfinite(edges[i]) else ""
        reach = f"converges up to lr={stable[i]:.6g}" if stable[i] else "converges nowhere on the grid"
        lines.append(f"  β={betas[i]:.4g}: {reach}{theory_note}")
    return metrics, lines


def _stable_lr(lr: list[float], pairs: list[tuple[str, str | None]]) -> float | None:
    """The largest lr of the grid below the first that does not converge (None: none converges first)."""
    holds = converges(pairs)
    first = holds.index(False) if False in holds else len(holds)
    return lr[first - 1] if first else None


def _per_pair(lr, betas, labels, final_cost):
    width = len(lr)
    for i, (regime, path, period, converged, cost, rate) in enumerate(
        zip(labels.regime, labels.path, labels.period, labels.converged, final_cost, labels.rate)
    ):
        yield (lr[i % width], betas[i // width], regime, _blank(path), period, converged, cost, rate)


def _underdamped(betas: list[float], top: float):
    """Heavy ball's spiral band in theory: complex roots from lr = (1 − √β)²/λmax, turning by less
    than 90° a step up to lr = (1 + β)/λmax (T = 0; beyond, the pair zigzags)."""
    return _edge_array([(1 - math.sqrt(b)) ** 2 / top for b in betas]), _edge_array([(1 + b) / top for b in betas])


def _edge_array(edges: list[float]):
    import numpy as np

    return np.asarray(edges, dtype=float)


def _blank(value):
    return "" if value is None else value


def _write(path: Path, header, rows) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
