"""One scan job (scan=dense or scan=edge): every lr in one batched descent, logged as ONE MLflow run.

Dense: a per-lr table (scan.csv), the bifurcation diagram and the regime strip under the
run's `scan/` artifacts, and the grid's edges as metrics. Edge: the stability edge and the
zigzag onset, bracketed to scan.rel_tol, as metrics next to 2/λmax and 1/λmax.
"""

from __future__ import annotations

import csv
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig

from gdsweep import config, tracking
from gdsweep.core import optimizers, theory
from gdsweep.core.regimes import CONVERGING, Regimes
from gdsweep.core.scan import ProgressBar, converges, converges_monotonically, descend_tail, find_edges, grid
from gdsweep.core.spec import ScanSpec
from gdsweep.core.suggest import FirstReached, suggested_lr
from gdsweep.jobs import devices, signals
from gdsweep.jobs.runner import Job, log_config, prepare, theory_key

SUMMARY = "scan.csv"
COLUMNS = ("lr", "regime", "path", "period", "converged", "final_cost", "rate")
DIAGRAM_ITERATES = 64  # last iterates per lr drawn in the bifurcation diagram
REGIMES = ("converging", "oscillating", "diverging")


@dataclass(frozen=True)
class ScanOutcome:
    run_id: str
    uri: str
    lines: list[str]  # what the command prints
    metrics: dict[str, float]
    folder: Path | None  # where scan.csv and the figures were written (None: only in MLflow)


def execute_scan(
    cfg: DictConfig, overrides: Sequence[str] = (), hydra_dir: Path | None = None, sweep: tracking.Sweep | None = None
) -> ScanOutcome:
    """Run the configured scan as one MLflow run (tag gdsweep.role=scan)."""
    scan = config.scan_spec(cfg)
    job = prepare(cfg, overrides, sweep)
    model = job.function.model  # every lr of the grid is a row of each step: threads=auto weighs them all
    devices.use_threads(job.spec.threads, scan.num * model.work if model else 0)
    tags = {**job.tags, "gdsweep.role": "scan", "gdsweep.scan": scan.mode}
    x0 = torch.tensor(job.spec.x0, dtype=job.dtype, device=job.device)
    started = time.perf_counter()
    with (
        signals.deferred() as stop,
        tracking.tracked_run(job.store, job.name, tags, job.parent) as run_id,
        tempfile.TemporaryDirectory() as scratch,
    ):
        tracking.log_run(job.store, run_id, params=job.params)
        folder = hydra_dir.parent / "scan" if hydra_dir is not None else Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        if scan.mode == "dense" and scan.momenta:
            from gdsweep.jobs.scan_map import lr_momentum_map

            theory_at = lambda lr: _theory(job, scan, x0, lr)
            metrics, lines = lr_momentum_map(job, scan, x0, _stopper(stop, job.spec.N), folder, theory_at)
        elif scan.mode == "dense":
            metrics, lines = _dense(job, scan, x0, stop, folder)
        else:
            metrics, lines = _edge(job, scan, x0)
        lines.insert(
            0,
            f"scan={scan.mode} on {job.spec.function['name']}, N={job.spec.N}, {job.device.type}: "
            f"{time.perf_counter() - started:.1f} s",
        )
        tracking.log_run(job.store, run_id, metrics=metrics)
        log_config(job, run_id, overrides, hydra_dir)
        tracking.log_files(job.store, run_id, folder, {}, "scan")
    return ScanOutcome(run_id, job.store.uri, lines, metrics, folder if hydra_dir is not None else None)


def _dense(job: Job, scan: ScanSpec, x0: torch.Tensor, stop: signals.StopRequest, folder: Path):
    from gdsweep.report import plots, scan_figures

    steps = job.spec.N
    lrs = grid(scan.lr_min, scan.lr_max, scan.num, scan.spacing, job.dtype, job.device)
    rule = optimizers.rule(job.spec.optimizer, lrs)
    reached = FirstReached(job.spec.tolerances.grad_tol)
    tol, progress = job.spec.tolerances, _stopper(stop, steps)
    scanned = descend_tail(job.function.f, x0, lrs, steps, min(scan.tail, steps), tol, progress, rule, reached)
    labels, lr = scanned.labels, lrs.double().cpu().tolist()
    final_cost = scanned.tail.cost[-1].double().cpu().tolist()
    _write_table(folder / SUMMARY, lr, labels, final_cost)
    pairs = list(zip(labels.regime, labels.path))
    stable, zigzag = _first_failure(converges(pairs)), _first_failure(converges_monotonically(pairs))
    model = _theory(job, scan, x0, lr[stable - 1] / 2 if stable else scan.lr_min)
    critical = model.metrics.get("critical_lr")
    counts = Counter(labels.regime)
    metrics = {"lrs": float(len(lr)), **{f"n_{r}": float(counts[r]) for r in REGIMES}}
    lines = [
        f"  {len(lr)} lrs from {lr[0]:g} to {lr[-1]:g} ({scan.spacing}): "
        + ", ".join(f"{counts[r]} {r}" for r in REGIMES)
    ]
    if stable:  # the grid's own bracket: converges at lr[stable - 1], not at lr[stable]
        metrics["stable_lr_max"] = lr[stable - 1]
        theory_note = f"; theory {theory.edge_formula(job.spec.optimizer)} = {critical:.6g}" if critical else ""
        lines.append(f"  converges up to lr={lr[stable - 1]:.6g} on the grid{theory_note}")
    if zigzag:
        metrics["zigzag_lr"] = lr[zigzag]
        gd = job.spec.optimizer.name == "gd"
        theory_note = f"; theory 1/λmax = {critical / 2:.6g}" if critical and gd else ""
        onset = "zigzag from" if gd else "path turns (spiral or zigzag) from"
        lines.append(f"  {onset} lr={lr[zigzag]:.6g} on the grid{theory_note}")
    metrics.update(model.metrics)
    marks = _suggestion(metrics, lines, suggested_lr(lr, labels.regime, reached.step, final_cost))
    iterates = scanned.tail.x[-DIAGRAM_ITERATES:, :, 0].double().cpu().numpy()
    plots.save(
        scan_figures.figures(
            lrs.double().cpu().numpy(),
            iterates,
            labels.regime,
            critical,
            scan.spacing == "log",
            theory.edge_formula(job.spec.optimizer),
            marks,
        ),
        folder,
    )
    return metrics, lines


def _stopper(stop: signals.StopRequest, steps: int):
    """The progress callback of a scan: the bar, and a pending signal honoured between pieces."""
    bar = ProgressBar(steps)

    def progress(done: int) -> None:
        bar(done)
        stop.check(f"after step {done} of {steps} (nothing logged: a scan logs its table at the end)")

    return progress
def _suggestion(metrics: dict[str, float], lines: list[str], suggested: float | None) -> dict[str, float]:
    """suggested_lr (measured) next to best_fixed_lr = 2/(λmin+λmax) (theory): metrics, a line, the marks."""
    best = metrics.get("best_fixed_lr")
    if suggested is None:
        return {}
    metrics["suggested_lr"] = suggested
    note = f"; theory 2/(λmin+λmax) = {best:.6g}" if best else ""
    lines.append(f"  suggested lr={suggested:.6g} (cost falls fastest among converging lrs){note}")
    return {"suggested_lr": suggested, **({"best_fixed_lr": best} if best else {})}


def _edge(job: Job, scan: ScanSpec, x0: torch.Tensor):
    optimizer = job.spec.optimizer
    found = find_edges(job.function.f, x0, scan, job.spec.N, job.spec.tolerances, job.dtype, job.device, optimizer)
    model = _theory(job, scan, x0, found.stable.lo / 2)
    critical = model.metrics.get("critical_lr")
    metrics = {
        "edge_lr": found.stable.lo,
        "edge_lr_upper": found.stable.hi,
        "zigzag_lr": found.zigzag.hi,
        "zigzag_lr_lower": found.zigzag.lo,
        "edge_rounds": float(found.rounds),
        "edge_runs": float(found.runs),
        **model.metrics,
    }
    horizon = _horizon(job, scan, x0, found.stable.lo, model)
    metrics.update(horizon[0])
    edge_note = zigzag_note = ""
    if critical:
        metrics["edge_over_critical"] = found.stable.lo / critical
        edge_note = f"; {theory.edge_formula(optimizer)} = {critical:.6g} (ratio {metrics['edge_over_critical']:.4f})"
    if critical and optimizer.name == "gd":  # the path's change has a one-line theory for gd only
        metrics["zigzag_over_theory"] = found.zigzag.hi / (critical / 2)
        zigzag_note = f"; 1/λmax = {critical / 2:.6g} (ratio {metrics['zigzag_over_theory']:.4f})"
    lines = [
        f"  largest lr that converges: {found.stable.lo:.6g} (diverges or cycles at {found.stable.hi:.6g}){edge_note}",
        f"  {'zigzag starts at:' if optimizer.name == 'gd' else 'path turns at:':<26} {found.zigzag.hi:.6g} (monotone at {found.zigzag.lo:.6g}){zigzag_note}",
        f"  {found.rounds} rounds, {found.runs} lrs in batches of {scan.num}, rel_tol={scan.rel_tol:g}",
        *horizon[1],
    ]
    return metrics, lines


def _theory(job: Job, scan: ScanSpec, x0: torch.Tensor, lr: float) -> theory.LocalModel:
    """λmax and 2/λmax at the minimum where a run at `lr` settles.

    Called with half the stable edge: on the local quadratic model that is 1/λmax, the lr
    that converges fastest, so the run is sure to have settled, in the well the edge is about.
    """
    rate = torch.tensor([lr], dtype=job.dtype, device=job.device)
    run = descend_tail(job.function.f, x0, rate, job.spec.N, min(scan.tail, job.spec.N), job.spec.tolerances)
    converging = run.labels.regime[0] == CONVERGING
    return theory.local_model(
        job.function,
        run.tail,
        converging,
        lr,
        converged=run.labels.converged[0],
        optimizer=job.spec.optimizer,
        start=x0,
        key=theory_key(job.spec),
    )


def _horizon(job: Job, scan: ScanSpec, x0: torch.Tensor, lr: float, model: theory.LocalModel):
    """Is the run that decides the edge (the largest lr that converged) at its theory point yet?

    When it is still far from it after N steps, the edge found is the horizon's, not the
    curvature's: say so, and name the N by which that run gets there (metric settle_steps).
    """
    if model.point is None:
        return {}, []
    rate = torch.tensor([lr], dtype=job.dtype, device=job.device)
    rule = optimizers.rule(job.spec.optimizer, rate)
    tail, tol = min(scan.tail, job.spec.N), job.spec.tolerances
    run = descend_tail(job.function.f, x0, rate, job.spec.N, tail, tol, None, rule)
    x = run.tail.x[:, 0].double().cpu()
    distance = torch.linalg.vector_norm(x - model.point, dim=-1).tolist()
    size = torch.linalg.vector_norm(model.point).item()
    if not distance or distance[-1] <= theory.SETTLED * (1 + size):
        return {}, []
    settle = theory.settle_steps(distance, job.spec.N, size)
    needed = f"N={_round_up(settle)} would settle it" if settle else "a larger N may settle it"
    line = (
        f"  horizon: the run at lr={lr:.6g} is still {distance[-1]:.3g} from the theory point after "
        f"N={job.spec.N} steps, so this edge is the horizon's, not the curvature's; {needed}"
    )
    return ({"settle_steps": float(settle)} if settle else {}), [line]


def _round_up(steps: int) -> int:
    """Up to two significant digits: 17342 -> 18000."""
    unit = 10 ** max(0, len(str(steps)) - 2)
    return -(-steps // unit) * unit


def _first_failure(holds: list[bool]) -> int | None:
    """Index of the first lr where the property fails, when it held before (None otherwise)."""
    first = holds.index(False) if False in holds else 0
    return first or None


def _write_table(path: Path, lrs: list[float], labels: Regimes, final_cost: list[float]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for row in zip(lrs, labels.regime, labels.path, labels.period, labels.converged, final_cost, labels.rate):
            writer.writerow(["" if value is None else value for value in row])
