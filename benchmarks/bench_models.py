"""Benchmarks of the real models (issue 13), as ratios measured in one run.

    python benchmarks/bench_models.py

(a) lr-steps per second of one batched 64-lr MLP descent (digits, 64-32-32-10 tanh, MSE) against 64
    separate single-lr descents, on 1 and on 2 torch threads (goals: >= 1.0x on one, >= 1.7x on two);
(b) threads: one single-lr MLP step on 2 threads against 1 (why threads=auto picks 1 for small work);
(c) a dense scan of 1000 lrs of least squares (diabetes, N=1000) against the same scan of 10 lrs
    (goal <= 2x), next to the same pair of scans of Σx² in as many coordinates (the core's own share);
(d) the edge-of-stability preset's wall time (`python -m gdsweep +experiment=edge_of_stability`).
Timings move with the machine's load; the ratios compare runs made back to back.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time

import torch

from gdsweep.core.descent import descend
from gdsweep.core.scan import descend_tail
from gdsweep.core.spec import Tolerances
from gdsweep.objectives.functions import build

STEPS = 20


def _best_of(repeats: int, work) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def batched_against_separate(threads: int) -> None:
    torch.set_num_threads(threads)
    mlp = build({"name": "mlp"}, 0)
    x0 = torch.tensor(mlp.model.start)
    lrs = torch.linspace(0.05, 0.6, 64)
    descend(mlp.f, x0, lrs, 2)  # warm up
    batched = _best_of(3, lambda: descend(mlp.f, x0, lrs, STEPS))
    separate = _best_of(2, lambda: [descend(mlp.f, x0, lr.reshape(1), STEPS) for lr in lrs])
    rate_b, rate_s = 64 * STEPS / batched, 64 * STEPS / separate
    print(
        f"(a) MLP 64 lrs x {STEPS} steps, {threads} thread(s): batched {rate_b:,.0f} lr-steps/s, "
        f"separate {rate_s:,.0f} lr-steps/s: {rate_b / rate_s:.2f}x"
    )


def threads_on_small_steps() -> None:
    mlp = build({"name": "mlp"}, 0)
    x0, lr = torch.tensor(mlp.model.start), torch.tensor([0.4])
    per_step = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        descend(mlp.f, x0, lr, 2)
        per_step[threads] = _best_of(3, lambda: descend(mlp.f, x0, lr, 50)) / 50
    print(
        f"(b) one MLP step (1 lr): 1 thread {per_step[1] * 1e3:.2f} ms, 2 threads {per_step[2] * 1e3:.2f} ms: "
        f"2 threads take {per_step[2] / per_step[1]:.2f}x as long"
    )


def dense_scan_1000_against_10() -> None:
    torch.set_num_threads(1)
    least_squares = build({"name": "linear_regression"}, 0)
    x0 = torch.tensor(least_squares.model.start, dtype=torch.float64)

    def scan(num: int) -> None:
        descend_tail(least_squares.f, x0, torch.linspace(0.01, 0.6, num, dtype=torch.float64), 1000, 64, Tolerances())

    quadratic = build({"name": "quadratic"}, x0.numel())  # the same descent on Σx² in as many coordinates

    def reference(num: int) -> None:
        descend_tail(quadratic.f, x0, torch.linspace(0.01, 0.6, num, dtype=torch.float64), 1000, 64, Tolerances())

    scan(10)
    few, many = _best_of(3, lambda: scan(10)), _best_of(3, lambda: scan(1000))
    print(f"(c) dense scan of least squares, N=1000: 10 lrs {few:.2f} s, 1000 lrs {many:.2f} s: {many / few:.2f}x")
    few_q, many_q = _best_of(3, lambda: reference(10)), _best_of(3, lambda: reference(1000))
    print(
        f"    the same scans of Σx² in {x0.numel()}-D (the descent core alone): {few_q:.2f} s, {many_q:.2f} s: "
        f"{many_q / few_q:.2f}x; least squares / Σx² at 1000 lrs: {many / many_q:.2f}x"
    )


def edge_of_stability_wall_time() -> None:
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        command = [sys.executable, "-m", "gdsweep", "+experiment=edge_of_stability", f"outputs_dir={folder}"]
        subprocess.run(command, check=True, capture_output=True, cwd=folder)
        print(
            f"(d) python -m gdsweep +experiment=edge_of_stability (N=3000, lr 0.4): {time.perf_counter() - started:.1f} s"
        )


if __name__ == "__main__":
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads by default")
    batched_against_separate(1)
    batched_against_separate(2)
    threads_on_small_steps()
    dense_scan_1000_against_10()
    if "--no-eos" not in sys.argv:
        edge_of_stability_wall_time()
