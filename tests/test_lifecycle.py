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


HEAP = """
import ctypes, sys
import torch
from gdsweep import lifecycle


class MallInfo2(ctypes.Structure):  # glibc >= 2.33
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "kept":
    lifecycle.keep_freed_memory()
tensor = torch.empty(10 << 20).fill_(1.0)  # 40 MiB: above the 32 MiB glibc's own threshold stops at
mapped = libc.mallinfo2().hblkhd  # bytes in blocks of their own from the kernel
del tensor
print(mapped >> 20, libc.mallinfo2().fordblks >> 20)  # MiB: held in own blocks; free and kept in the heap
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_a_freed_tensor_s_memory_is_kept_for_the_next_one():
    """keep_freed_memory: a 40 MiB tensor comes from malloc's heap and, once freed, stays there for
    the next tensor; by default it is a block of fresh pages from the kernel, returned at free (the
    next one page-faults on every 4 KiB again)."""
    heap = {
        mode: [
            int(n)
            for n in subprocess.run(
                [sys.executable, "-c", HEAP, mode], capture_output=True, text=True, check=True
            ).stdout.split()
        ]
        for mode in ("default", "kept")
    }
    mapped, kept = heap["default"]
    assert mapped >= 40 and kept < 40
    mapped, kept = heap["kept"]
    assert mapped < 40 and kept >= 40
