"""A command ends as a normal exit would, without the interpreter's teardown (gdsweep.lifecycle):
its exit code, its atexit handlers and threads, its output, and a database file that alone holds
every run."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import all_runs


def test_the_database_file_alone_holds_the_run_after_the_command_ends(cli, tmp_path):
    result = cli()  # the article's run: x² from 4, lr 0.1, 9 steps
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    wal = tmp_path / "outputs" / "mlflow.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0  # the write-ahead log was folded into mlflow.db
    alone = tmp_path / "copied"
    alone.mkdir()
    shutil.copy(tmp_path / "outputs" / "mlflow.db", alone / "mlflow.db")  # what a user copies or mails
    client = MlflowClient(f"sqlite:///{alone / 'mlflow.db'}")
    [run] = all_runs(client)
    assert run.info.status == "FINISHED"
    costs = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "cost")}
    assert sorted(costs) == list(range(10))
    assert costs[9] == pytest.approx((4 * 0.8**9) ** 2, rel=1e-6)


@pytest.mark.parametrize("code, shown", [(0, None), (3, None), ("gdsweep: error: a message", 1)])
def test_leave_keeps_the_exit_code_runs_atexit_and_waits_for_threads(tmp_path, code, shown):
    """What a normal exit does that anyone can see: the code (a message goes to stderr, code 1),
    atexit handlers, threads that are not daemons finishing their work, buffered stdout."""
    program = textwrap.dedent(
        f"""
        import atexit, sys, threading, time
        from pathlib import Path
        from gdsweep import lifecycle

        folder = Path({str(tmp_path)!r})
        atexit.register(lambda: (folder / "atexit").write_text("ran"))

        def late():
            time.sleep(0.5)
            (folder / "thread").write_text("finished")

        def command():
            threading.Thread(target=late).start()
            sys.stdout.write("buffered, no newline")
            sys.exit({code!r})

        lifecycle.run(command)
        """
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == (code if shown is None else shown), done.stderr
    assert done.stdout == "buffered, no newline"
    assert (tmp_path / "atexit").read_text() == "ran"
    assert (tmp_path / "thread").read_text() == "finished"
    if isinstance(code, str):
        assert done.stderr.strip() == code


FAULTS = """
import resource, sys
import torch
from gdsweep import lifecycle
if sys.argv[1] == "kept":
    lifecycle.keep_freed_memory()
x = torch.rand(65, 10_000, dtype=torch.float64)  # a dense scan's tail: 64 steps of 10^4 lrs


def labels():  # eager bookkeeping: each op makes a new tensor of a few MiB
    step = x[1:] - x[:-1]
    far = step.abs() > 0.5
    return (step * step).sum(0), torch.where(far, step, 0.0).amax(0)


def faults(work, times):
    work()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(times):
        work()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


print(faults(lambda: torch.empty(10 << 20).fill_(1.0), 20), faults(labels, 50))  # 40 MiB tensors; the tail
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_eager_bookkeeping_reuses_freed_memory_instead_of_page_faulting():
    """keep_freed_memory: a freed 40 MiB tensor's memory is mostly reused by the next one instead
    of fresh pages from the kernel (10240 faults each by default), and 50 passes of a few eager
    ops over a scan's 64-step tail of 10^4 lrs (~2400 pages of new tensors a pass) fault
    about nothing."""
    faults = {
        mode: [
            int(n)
            for n in subprocess.run(
                [sys.executable, "-c", FAULTS, mode], capture_output=True, text=True, check=True
            ).stdout.split()
        ]
        for mode in ("default", "kept")
    }
    assert faults["default"][0] > 20 * 10_000
    assert faults["kept"][0] < faults["default"][0] / 2
    assert faults["kept"][1] < 50 * 200
