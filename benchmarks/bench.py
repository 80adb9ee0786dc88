"""gdsweep's speed, as ratios against references measured in the same run (not a test).

    python benchmarks/bench.py            # 15-25 minutes on 2 shared cores
    python benchmarks/bench.py scan       # only (g)-(i)

(a) descent core per step vs the bare autograd loop, one lr, interleaved  goal <= 1.3x
(b) MLflow logging cost per metric point                                   goal <= 0.2 ms
(c) `lr=0.01,0.1,1.0 N=1000 --multirun`, report included, vs the floor     goal <= 1.4x
    (a process importing torch, mlflow and hydra and opening the store), and vs the naive script;
    also vs that floor started and ended as gdsweep is (benchmarks/floor.py lean)
    one more step, logging included, vs the naive script                   goal >= 15x lower
(d) per-job overhead of a multirun                                         goal <= 0.1 s
(e) `python -m gdsweep --help` wall time                                   goal <= 1 s
(f) report (table + figures) of a 200-lr sweep, from MLflow               goal < 10 s
(g) dense scan of 10^4 lrs x 10^3 steps of x**2 vs the bare batched loop   goal <= 2x
    (and, for reference, the same scan with every column kept: no stopped lr dropped)
(h) lr-throughput of `scan=dense` vs a --multirun of lrs of the same grid  goal >= 1000x
(i) `scan=dense` wall time, 10^4 lrs vs 10 lrs at N=1000                   goal <= 1.5x
(j) a 200 000-step run, logging included, per step vs the bare loop       goal <= 2x
    (every step in its table, >= 1000 points incl. 0 and N in its cost history)
(k) peak memory of a 100-D run, 2*10^5 steps vs 10^4                        goal: flat (< +20 MiB)

Process timings are medians of interleaved repeats; a figure that is a difference of two
timings ("one more step", "per job", "per step") comes with its noise, and its verdict says
"inconclusive" rather than met or missed when the noise could flip it (benchmarks/timing.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from references import bare_batched_loop, bare_loop  # benchmarks/ is on sys.path
from timing import (  # benchmarks/ is on sys.path when this file is run
    ENV,
    difference,
    gdsweep,
    interleaved,
    median,
    noise,
    processes,
    ratio,
    run_once,
    script,
    verdict,
)

from gdsweep import lifecycle
from gdsweep.core.article import article_loop

LRS = "lr=0.01,0.1,1.0"


def per_step(call, steps: int):
    def timed() -> float:
        start = time.perf_counter()
        call()
        return (time.perf_counter() - start) / steps

    return timed


def bare_step_times(repeats: int = 15, steps: int = 2000) -> list[float]:
    return interleaved({"bare": per_step(lambda: bare_loop(steps), steps)}, repeats)["bare"]


def descent_ratio(steps: int = 2000, repeats: int = 21) -> None:
    from gdsweep.core.descent import descend
    from gdsweep.objectives.functions import coordinate_sum

    f = lambda x: coordinate_sum(x**2)
    times = interleaved(
        {
            "bare": per_step(lambda: bare_loop(steps), steps),
            "ours": per_step(lambda: descend(f, torch.tensor([4.0]), torch.tensor([0.01]), steps), steps + 1),
            "article": per_step(lambda: article_loop(steps, lr=0.01), steps),
        },
        repeats,
    )
    r, err = ratio(times["ours"], times["bare"])
    print(
        f"(a) descent step: {median(times['ours']) * 1e6:.1f} us vs bare loop {median(times['bare']) * 1e6:.1f} us"
        f" -> {r:.2f}x ± {err:.2f} (goal <= 1.3x: {verdict(r, err, 1.3)}); the article's loop:"
        f" {median(times['article']) * 1e6:.1f} us ({median(times['ours']) / median(times['article']):.2f}x)"
        f" [medians of {repeats}, interleaved]"
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
    print(f"(b) MLflow logging: {median(costs) * 1e3:.3f} ms per metric point (goal <= 0.2 ms)")


def sweeps(folder: Path, repeats: int = 5) -> None:
    from mlflow.tracking import MlflowClient

    naive_uri = f"uri=sqlite:///{folder / 'naive.db'}"
    MlflowClient(f"sqlite:///{folder / 'naive.db'}").search_experiments()  # an existing store, as MLflow makes it
    run_once(gdsweep("N=1"), folder)  # an existing embedded store
    t = processes(
        {
            "floor": script("floor.py"),
            "lean floor": script("floor.py", "lean"),
            "ours1000": gdsweep(LRS, "N=1000", "--multirun"),
            "ours200": gdsweep(LRS, "N=200", "--multirun"),
        },
        folder,
        repeats,
    )
    naive = processes(
        {n: script("naive_sweep.py", LRS, f"N={n}", naive_uri, "--multirun") for n in ("1000", "200")}, folder, 3
    )
    r, err = ratio(t["ours1000"], t["floor"])
    print(
        f"(c) sweep {LRS} N=1000, report included: gdsweep {median(t['ours1000']):.2f} s vs floor"
        f" {median(t['floor']):.2f} s -> {r:.2f}x ± {err:.2f} (goal <= 1.4x: {verdict(r, err, 1.4)});"
        f" naive script {median(naive['1000']):.1f} s -> {median(naive['1000']) / median(t['ours1000']):.1f}x faster"
        f" (goal >= 4x) [medians of {repeats} and 3]"
    )
    r, err = ratio(t["ours1000"], t["lean floor"])
    print(
        f"    vs the floor started and ended as gdsweep is (collector off while importing, no teardown):"
        f" {median(t['lean floor']):.2f} s -> {r:.2f}x ± {err:.2f} (gdsweep's own work, start-up savings taken out)"
    )
    ours, ours_err = difference(t["ours200"], t["ours1000"], 3 * 800)
    theirs, theirs_err = difference(naive["200"], naive["1000"], 3 * 800)
    lower = theirs / ours if ours > ours_err else float("inf")
    print(
        f"    one more step, logging included: gdsweep {ours * 1e3:.3f} ± {ours_err * 1e3:.3f} ms vs naive"
        f" {theirs * 1e3:.2f} ± {theirs_err * 1e3:.2f} ms -> "
        + (f"{lower:.0f}x lower" if ours > ours_err else "gdsweep's is below its noise")
        + f" (goal >= 15x: {verdict(theirs / 15, theirs_err / 15 + ours_err, ours, at_most=False)})"
    )
    jobs = processes(
        {n: gdsweep(f"lr=range(1,{n + 1})", "N=1", "--multirun") for n in (1, 11)}
        | {-n: script("naive_sweep.py", f"lr=range(1,{n + 1})", "N=0", naive_uri, "--multirun") for n in (1, 11)},
        folder,
        repeats,
    )
    per_job, per_job_err = difference(jobs[1], jobs[11], 10)
    floor, floor_err = difference(jobs[-1], jobs[-11], 10)
    print(
        f"(d) multirun per job: {per_job:.3f} ± {per_job_err:.3f} s (goal <= 0.1 s: {verdict(per_job, per_job_err, 0.1)});"
        f" the naive Hydra+MLflow script's: {floor:.3f} ± {floor_err:.3f} s [medians of {repeats}]"
    )
    helps = processes({"help": gdsweep("--help")}, folder, 5)["help"]
    print(f"(e) python -m gdsweep --help: {median(helps):.2f} s (goal <= 1 s)")


def report_of_200(folder: Path) -> None:
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    import gdsweep.config  # noqa: F401
    from gdsweep import tracking
    from gdsweep.jobs.runner import execute
    from gdsweep.report import sweep as report

    outputs = folder / "report200"
    with initialize_config_module("gdsweep.conf", version_base="1.3"):
        cfg = compose("config", overrides=[f"outputs_dir={outputs}", "N=100"])
    store = tracking.open_store(tracking.embedded_uri(outputs), "bench200", outputs)
    sweep = tracking.Sweep(store, tracking.start_run(store, "sweep of 200", {"gdsweep.role": "sweep"}))
    for lr in torch.logspace(-3, 0.2, 200).tolist():
        job = OmegaConf.merge(cfg, {"lr": lr, "tracking": {"experiment": "bench200"}})
        execute(job, [f"lr={lr:.6g}"], None, sweep)
    start = time.perf_counter()
    report.build(store, sweep.parent_run_id, outputs / "report")  # from MLflow alone, as the command does
    print(f"(f) report of a 200-lr sweep from MLflow: {time.perf_counter() - start:.1f} s (goal < 10 s)")


def scans(folder: Path, repeats: int = 15) -> None:
    """(g) in this process, `repeats` times (0.5 s each: one slow repeat must not decide the verdict); (h), (i) 3 times."""
    from gdsweep.core import descent
    from gdsweep.core.scan import descend_tail, grid
    from gdsweep.core.spec import Tolerances
    from gdsweep.objectives import functions

    f = functions.build({"name": "quadratic"}, 1).f
    lrs = grid(1e-3, 1.5, 10_000, "log", torch.float32, torch.device("cpu"))
    scan = lambda: descend_tail(f, torch.tensor([4.0]), lrs, 1000, 64, Tolerances())

    def every_column_kept() -> None:  # RETIRE = 1: drop columns only once all have stopped
        retire, descent.RETIRE = descent.RETIRE, 1
        try:
            scan()
        finally:
            descent.RETIRE = retire

    t = interleaved(
        {
            "bare": per_step(lambda: bare_batched_loop(lrs, 1000), 1),
            "scan": per_step(scan, 1),
            "kept": per_step(every_column_kept, 1),
        },
        repeats,
    )
    r, err = ratio(t["scan"], t["bare"])
    kept, kept_err = ratio(t["kept"], t["bare"])
    print(
        f"(g) 10^4 lrs x 10^3 steps: scan {median(t['scan']):.3f} s (labels included) vs bare batched loop"
        f" {median(t['bare']):.3f} s -> {r:.2f}x ± {err:.2f} (goal <= 2x: {verdict(r, err, 2)}) [medians of {repeats}]"
    )
    print(
        f"    the same scan with every column kept (no stopped lr dropped): {median(t['kept']):.3f} s"
        f" -> {kept:.2f}x ± {kept_err:.2f}"
    )
    dense = ["scan=dense", "scan.lr_min=1e-3", "scan.lr_max=1.5", "N=1000"]
    picked = [lrs[i].item() for i in torch.linspace(0, 9_999, 11).round().long().tolist()]  # lrs of the scan's grid
    listed = {1: repr(picked[5]), 11: ",".join(repr(v) for v in picked)}
    t = processes(
        {
            "wide": gdsweep(*dense, "scan.num=10000"),
            "narrow": gdsweep(*dense, "scan.num=10"),
            "one": gdsweep(f"lr={listed[1]}", "N=1000", "--multirun"),
            "eleven": gdsweep(f"lr={listed[11]}", "N=1000", "--multirun"),
        },
        folder,
        3,
    )
    per_lr, per_lr_err = difference(t["one"], t["eleven"], 10)
    multirun = median(t["one"]) + (10_000 - 1) * per_lr
    print(
        f"(h) 10^4 lrs at N=1000: scan=dense {median(t['wide']):.1f} s vs --multirun ~{multirun:.0f} s"
        f" ({per_lr:.3f} ± {per_lr_err:.3f} s per lr, extrapolated from 1 and 11 lrs of the scan's own grid,"
        f" {picked[0]:.4g}..{picked[-1]:.4g}) -> {multirun / median(t['wide']):.0f}x the lr-throughput (goal >= 1000x)"
    )
    print(
        f"(i) scan=dense N=1000: 10^4 lrs {median(t['wide']):.1f} s vs 10 lrs {median(t['narrow']):.1f} s"
        f" -> {median(t['wide']) / median(t['narrow']):.2f}x (goal <= 1.5x) [medians of 3]"
    )


def long_run(folder: Path, repeats: int = 3) -> None:
    from gdsweep import tracking

    bare = bare_step_times()
    t = processes({"long": gdsweep("N=200000"), "short": gdsweep("N=1000")}, folder, repeats)
    step, step_err = difference(t["short"], t["long"], 199_000)
    bare_step = median(bare)
    r, err = step / bare_step, step_err / bare_step + step / bare_step * noise(bare) / bare_step
    store, run = latest_run(folder, "N", "200000")
    table = tracking.read_trajectory(tracking.Store(store, run.info.experiment_id), run.info.run_id, ["cost"])
    cost = tracking.histories(tracking.Store(store, run.info.experiment_id), run.info.run_id, ["cost"])["cost"]
    print(
        f"(j) 200 000-step run: {median(t['long']):.1f} s; per step, logging included, {step * 1e6:.1f} ± {step_err * 1e6:.1f} us"
        f" vs bare loop {bare_step * 1e6:.1f} us -> {r:.2f}x ± {err:.2f} (goal <= 2x: {verdict(r, err, 2)});"
        f" table {len(table['step'])} rows (steps {table['step'][0]}..{table['step'][-1]}), cost history"
        f" {len(cost)} points, first {cost[0][0]}, last {cost[-1][0]} [medians of {repeats}]"
    )


def latest_run(folder: Path, param: str, value: str):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{folder / 'outputs' / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("gdsweep").experiment_id
    runs = client.search_runs([experiment], f"params.{param} = '{value}'", order_by=["attributes.start_time DESC"])
    return uri, runs[0]


def peak_memory(folder: Path) -> None:
    x0 = "x0=[" + ",".join(["1.0"] * 100) + "]"
    peaks = {}
    for steps in (10_000, 200_000):
        process = subprocess.Popen(
            gdsweep(x0, f"N={steps}", "lr=0.001"), cwd=folder, env=ENV, stdout=subprocess.DEVNULL
        )
        _, status, usage = os.wait4(process.pid, 0)
        assert status == 0
        peaks[steps] = usage.ru_maxrss / 1024
    grown = peaks[200_000] - peaks[10_000]
    print(
        f"(k) peak RSS of a 100-D run: N=10^4 {peaks[10_000]:.0f} MiB, N=2*10^5 {peaks[200_000]:.0f} MiB"
        f" -> {grown:+.0f} MiB (keeping every iterate would add {190_000 * 100 * 4 / 2**20:.0f} MiB; goal < +20 MiB)"
    )


if __name__ == "__main__":
    torch.set_num_threads(1)
    lifecycle.keep_freed_memory()  # as every gdsweep command and job does; the in-process figures share it
    print(f"gdsweep benchmark on {os.cpu_count()} cores, torch {torch.__version__}, freed memory kept as gdsweep keeps it")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        run_once(gdsweep("N=1"), folder)  # an existing embedded store
        if sys.argv[1:] == ["scan"]:
            scans(folder)
            sys.exit()
        descent_ratio()
        logging_cost()
        sweeps(folder)
        report_of_200(folder)
        scans(folder)
        long_run(folder)
        peak_memory(folder)
