"""Timing helpers for bench.py: interleaved repeats, medians, and verdicts that noise cannot flip.

On a shared machine one process run can take twice as long as the next. Every comparison here
runs its two sides alternately (so drift hits both), reports medians, and measures the noise as
the spread of the repeats (half the interquartile range, scaled to a median's standard error):
a verdict is "met" or "missed" only when the figure clears the goal by more than that noise,
else "inconclusive".
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
ENV = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}


def gdsweep(*args: str) -> list[str]:
    return [sys.executable, "-m", "gdsweep", *args]


def script(name: str, *args: str) -> list[str]:
    return [sys.executable, str(HERE / name), *args]


def run_once(command: Sequence[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=ENV, check=True, capture_output=True)
    return time.perf_counter() - start


def interleaved(calls: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    """Each call `repeats` times, taking turns; every call returns its own measured seconds."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            times[name].append(call())
    return times


def processes(commands: dict[str, Sequence[str]], cwd: Path, repeats: int) -> dict[str, list[float]]:
    return interleaved({name: (lambda c=c: run_once(c, cwd)) for name, c in commands.items()}, repeats)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def noise(values: Sequence[float]) -> float:
    """The uncertainty of a median: half the interquartile range over sqrt(n), times 2 for safety."""
    if len(values) < 2:
        return 0.0
    q1, _, q3 = statistics.quantiles(values, n=4)
    return (q3 - q1) / 2 / len(values) ** 0.5 * 2


def difference(low: Sequence[float], high: Sequence[float], per: float) -> tuple[float, float]:
    """(median(high) − median(low)) / per, and its noise."""
    return (median(high) - median(low)) / per, (noise(high) + noise(low)) / per


def verdict(value: float, error: float, goal: float, at_most: bool = True) -> str:
    """met / missed / inconclusive, for a figure with its noise against a goal."""
    good, bad = (
        (value + error <= goal, value - error > goal) if at_most else (value - error >= goal, value + error < goal)
    )
    return "met" if good else "missed" if bad else "inconclusive: within noise of the goal"


def ratio(top: Sequence[float], bottom: Sequence[float]) -> tuple[float, float]:
    """median(top) / median(bottom), and its noise."""
    r = median(top) / median(bottom)
    return r, r * (noise(top) / median(top) + noise(bottom) / median(bottom))
