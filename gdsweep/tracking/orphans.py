"""Runs left RUNNING by a process that died without a word (SIGKILL, the OOM killer, a power cut).

Every run gdsweep starts carries where it runs: tags `gdsweep.host`, `gdsweep.pid` and
`gdsweep.pid_start` (the process's start time, field 22 of /proc/PID/stat, so a pid the system has
since given to another process is not mistaken for the run's). Whenever gdsweep opens a store,
`reap` ends KILLED every RUNNING run of this host whose process is gone, with tag `error` saying it
was found orphaned and when; a sweep's parent likewise once its own process is gone and none of
its jobs is still RUNNING. Runs of other hosts are left alone: their processes cannot be seen here.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

from mlflow.entities import Run
from mlflow.tracking import MlflowClient

HOST, PID, START = "gdsweep.host", "gdsweep.pid", "gdsweep.pid_start"
PARENT = "mlflow.parentRunId"


def process_tags() -> dict[str, str]:
    """Where this process runs, as tags for a new run."""
    tags = {HOST: socket.gethostname(), PID: str(os.getpid())}
    started = start_time(os.getpid())
    if started is not None:
        tags[START] = started
    return tags


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat, field 22); None if unknown."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            text = stat.read()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()[19]  # fields after "(comm)" start at field 3


def alive(run: Run) -> bool:
    """Is the process that started this run (same pid, same start time) still there?"""
    try:
        pid = int(run.data.tags[PID])
    except (KeyError, ValueError):
        return True  # not a run gdsweep can judge
    recorded = run.data.tags.get(START)
    if os.path.isdir("/proc"):
        now = start_time(pid)
        return now is not None and (recorded is None or now == recorded)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap(client: MlflowClient, retry: Callable = lambda call, *a, **k: call(*a, **k)) -> list[str]:
    """End KILLED this host's RUNNING runs whose process is gone; the ids of the runs ended."""
    host = socket.gethostname()
    experiments = [e.experiment_id for e in retry(client.search_experiments, max_results=1000)]
    if not experiments:
        return []
    running = retry(
        client.search_runs, experiments, f"attributes.status = 'RUNNING' and tags.`{HOST}` = '{host}'", max_results=5000
    )
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    ended = []
    parents = [r for r in running if r.data.tags.get("gdsweep.role") == "sweep"]
    for run in [r for r in running if r.data.tags.get("gdsweep.role") != "sweep"]:
        if not alive(run):
            _end(client, retry, run, f"process {run.data.tags[PID]} on {host} is gone", stamp)
            ended.append(run.info.run_id)
    for run in parents:
        if alive(run):
            continue
        jobs = retry(
            client.search_runs,
            [run.info.experiment_id],
            f"attributes.status = 'RUNNING' and tags.`{PARENT}` = '{run.info.run_id}'",
            max_results=1,
        )
        if not jobs:
            _end(client, retry, run, f"sweep process {run.data.tags[PID]} on {host} is gone, no job alive", stamp)
            ended.append(run.info.run_id)
    return ended


def _end(client: MlflowClient, retry: Callable, run: Run, why: str, stamp: str) -> None:
    retry(client.set_tag, run.info.run_id, "error", f"found orphaned (RUNNING, but {why}) at {stamp}; ended KILLED")
    retry(client.set_terminated, run.info.run_id, "KILLED")
