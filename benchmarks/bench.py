"""gdsweep's speed, as ratios against references measured in the same run (not a test).

    python benchmarks/bench.py            # about ten minutes on 2 cores (subprocess timings are best of 3)

(a) descent loop time per step vs the article's raw torch loop        goal <= 1.15x
(b) MLflow logging cost per metric point                               goal <= 0.2 ms
(c) `lr=0.01,0.1,1.0 N=1000 --multirun` wall time vs the naive script  goal >= 4x faster
    and the marginal cost of one more step, logging included           goal >= 15x lower
(d) per-job overhead of a multirun                                     goal <= 0.1 s
(e) `python -m gdsweep --help` wall time                               goal <= 1 s
(f) report (table + figures) of a 200-lr sweep, from MLflow           goal < 10 s
(g) dense scan of 10^4 lrs x 10^3 steps of x**2 vs the bare batched loop goal <= 2x
(h) lr-throughput of `scan=dense` vs a --multirun of the same lrs      goal >= 1000x
    (the --multirun extrapolated from 1 and 11 lrs)
(i) `scan=dense` wall time, 10^4 lrs vs 10 lrs at N=1000               goal <= 1.5x

    python benchmarks/bench.py scan      # only (g)-(i), about two minutes
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from gdsweep.core.article import article_loop

HERE = Path(__file__).resolve().parent
ENV = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}


def descent_ratio(steps: int = 2000, repeats: int = 21) -> None:
    from gdsweep.core.descent import descend
    from gdsweep.objectives.functions import coordinate_sum

    f = lambda x: coordinate_sum(x**2)
    ours, theirs = [], []
    for _ in range(repeats):  # interleaved, so drift in machine speed hits both
        start = time.perf_counter()
        article_loop(steps, lr=0.01)
        theirs.append((time.perf_counter() - start) / steps)
        start = time.perf_counter()
        descend(f, torch.tensor([4.0]), torch.tensor([0.01]), steps)
        ours.append((time.perf_counter() - start) / (steps + 1))
    best, typical = min(ours) / min(theirs), statistics.median(ours) / statistics.median(theirs)
    print(
        f"(a) descent step: {min(ours) * 1e6:.1f} us vs article loop {min(theirs) * 1e6:.1f} us (best of {repeats})"
        f" -> {best:.2f}x, medians {typical:.2f}x (goal <= 1.15x)"
    )


def logging_cost(steps: int = 2000) -> None:
    from gdsweep import tracking

    with tempfile.TemporaryDirectory() as folder:
        store = tracking.open_store(tracking.embedded_uri(folder), "bench", folder)
        series = {key: [float(i) for i in range(steps + 1)] for key in ("cost", "grad_norm", "x")}
        costs = []
        for _ in range(3):
            run_id = tracking.start_run(store, "bench", {})
            start = time.perf_counter()
            tracking.log_run(store, run_id, series=series)
            costs.append((time.perf_counter() - start) / (3 * (steps + 1)))
    print(f"(b) MLflow logging: {statistics.median(costs) * 1e3:.3f} ms per metric point (goal <= 0.2 ms)")


def wall(command: list[str], cwd: Path, repeats: int = 3) -> float:
    """Best of `repeats` wall times: a shared 2-core machine adds seconds of noise to single runs."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, cwd=cwd, env=ENV, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return min(times)


def gdsweep(*args: str) -> list[str]:
    return [sys.executable, "-m", "gdsweep", *args]


def naive(*args: str) -> list[str]:
    return [sys.executable, str(HERE / "naive_sweep.py"), *args]


def sweeps(folder: Path) -> None:
    from mlflow.tracking import MlflowClient

    naive_uri = f"uri=sqlite:///{folder / 'naive.db'}"
    MlflowClient(f"sqlite:///{folder / 'naive.db'}").search_experiments()  # an existing store, as MLflow makes it
    wall(gdsweep("N=1"), folder)  # an existing embedded store
    lrs = "lr=0.01,0.1,1.0"
    ours = {n: wall(gdsweep(lrs, f"N={n}", "--multirun"), folder) for n in (200, 1000)}
    theirs = {n: wall(naive(lrs, f"N={n}", naive_uri, "--multirun"), folder) for n in (200, 1000)}
    print(
        f"(c) sweep {lrs} N=1000: gdsweep {ours[1000]:.1f} s vs naive {theirs[1000]:.1f} s"
        f" -> {theirs[1000] / ours[1000]:.1f}x faster (goal >= 4x)"
    )
    step_ours = (ours[1000] - ours[200]) / (3 * 800)
    step_theirs = (theirs[1000] - theirs[200]) / (3 * 800)
    print(
        f"    one more step, logging included: gdsweep {step_ours * 1e3:.3f} ms vs naive {step_theirs * 1e3:.2f} ms"
        f" -> {step_theirs / step_ours:.0f}x lower (goal >= 15x)"
    )
    one, many = (wall(gdsweep(f"lr=range(1,{n + 1})", "N=1", "--multirun"), folder) for n in (1, 11))
    bare_one, bare_many = (wall(naive(f"lr=range(1,{n + 1})", "N=0", naive_uri, "--multirun"), folder) for n in (1, 11))
    per_job, hydra_floor = (many - one) / 10, (bare_many - bare_one) / 10
    print(
        f"(d) multirun per job: {per_job:.3f} s (goal <= 0.1 s); the naive Hydra+MLflow script's: {hydra_floor:.3f} s"
        f" -> gdsweep adds {per_job - hydra_floor:+.3f} s per job over it"
    )
    print(f"(e) python -m gdsweep --help: {wall(gdsweep('--help'), folder, repeats=5):.2f} s (goal <= 1 s)")


def report_of_200(folder: Path) -> None:
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    import gdsweep.config  # noqa: F401
    from gdsweep import report, tracking
    from gdsweep.jobs.runner import execute

    outputs = folder / "report200"
    with initialize_config_module("gdsweep.conf", version_base="1.3"):
        cfg = compose("config", overrides=[f"outputs_dir={outputs}", "N=100"])
    store = tracking.open_store(tracking.embedded_uri(outputs), "bench200", outputs)
    sweep = tracking.Sweep(store, tracking.start_run(store, "sweep of 200", {"gdsweep.role": "sweep"}))
    for lr in torch.logspace(-3, 0.2, 200).tolist():
        job = OmegaConf.merge(cfg, {"lr": lr, "tracking": {"experiment": "bench200"}})
        execute(job, [f"lr={lr:.6g}"], None, sweep)
    start = time.perf_counter()
    report.build(store, sweep.parent_run_id, outputs / "report")
    print(f"(f) report of a 200-lr sweep: {time.perf_counter() - start:.1f} s (goal < 10 s)")


def bare_batched_loop(lrs: torch.Tensor, steps: int) -> torch.Tensor:
    """The same arithmetic as a scan with nothing kept: forward, backward, update, for every lr at once."""
    x = torch.full((lrs.shape[0], 1), 4.0, dtype=lrs.dtype).requires_grad_(True)
    column, seed = lrs.unsqueeze(-1), None
    for k in range(steps + 1):
        cost = x**2
        seed = torch.ones_like(cost) if seed is None else seed
        cost.backward(seed)
        with torch.no_grad():
            if k < steps:
                x.sub_(column * x.grad)
        x.grad = None
    return x


def best_of(call, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def scans(folder: Path) -> None:
    from gdsweep.core.scan import descend_tail, grid
    from gdsweep.core.spec import Tolerances
    from gdsweep.objectives import functions

    f = functions.build({"name": "quadratic"}, 1).f
    lrs = grid(1e-3, 1.5, 10_000, "log", torch.float32, torch.device("cpu"))
    bare = best_of(lambda: bare_batched_loop(lrs, 1000))
    scan = best_of(lambda: descend_tail(f, torch.tensor([4.0]), lrs, 1000, 64, Tolerances()))
    print(
        f"(g) 10^4 lrs x 10^3 steps: scan {scan:.3f} s (labels included) vs bare batched loop {bare:.3f} s"
        f" -> {scan / bare:.2f}x (goal <= 2x)"
    )
    dense = ["scan=dense", "scan.lr_min=1e-3", "scan.lr_max=1.5", "N=1000"]
    wide, narrow = (wall(gdsweep(*dense, f"scan.num={n}"), folder, repeats=2) for n in (10_000, 10))
    lrs_of = {1: "0.1", 11: ",".join(f"{k / 10:g}" for k in range(1, 12))}
    one, eleven = (wall(gdsweep(f"lr={lrs_of[n]}", "N=1000", "--multirun"), folder, repeats=2) for n in (1, 11))
    per_lr = (eleven - one) / 10
    multirun = one + (10_000 - 1) * per_lr  # extrapolated: a --multirun of the same 10^4 lrs
    print(
        f"(h) 10^4 lrs at N=1000: scan=dense {wide:.1f} s vs --multirun ~{multirun:.0f} s"
        f" ({per_lr:.2f} s per lr, extrapolated from 1 and 11 lrs) -> {multirun / wide:.0f}x the lr-throughput (goal >= 1000x)"
    )
    print(
        f"(i) scan=dense N=1000: 10^4 lrs {wide:.1f} s vs 10 lrs {narrow:.1f} s -> {wide / narrow:.2f}x (goal <= 1.5x)"
    )


if __name__ == "__main__":
    torch.set_num_threads(1)
    print(f"gdsweep benchmark on {os.cpu_count()} cores, torch {torch.__version__}")
    if sys.argv[1:] == ["scan"]:
        with tempfile.TemporaryDirectory() as folder:
            wall(gdsweep("N=1"), Path(folder))  # an existing embedded store
            scans(Path(folder))
        sys.exit()
    descent_ratio()
    logging_cost()
    with tempfile.TemporaryDirectory() as folder:
        sweeps(Path(folder))
        report_of_200(Path(folder))
        scans(Path(folder))
