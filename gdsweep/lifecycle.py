"""How a gdsweep process starts and ends: the collector off while the heavy imports run, and an
exit without the interpreter's teardown. Measured on 2 cores, these take 1.5-2 s off every command
that imports torch and MLflow (of 4-5 s for a small sweep).

Start. Importing torch, MLflow, SQLAlchemy, pandas and matplotlib makes about a million objects;
Python's cyclic collector walks all of them again and again while they load, and again in every
full collection later (a sweep's second job paid 0.2 s for one). `run` starts a command with the
collector off; `settle()`, called once those imports are done, moves everything made so far to
the permanent generation (`gc.freeze`: the collector never walks it again; reference counting
still frees it) and turns the collector back on.

End. Tearing the interpreter down (freeing every module and object one by one) takes about a
second after the last line is printed. `leave(code)` first does, in the interpreter's own order,
what a normal exit does that anyone can see: threads that are not daemons are joined, atexit
handlers run (logging's flush, the sweep's abandoned-parent guard, MLflow's own), the SQLite
stores this process opened fold their write-ahead log into the database file, stdout and stderr
are flushed. Then it ends the process with the exit code (`os._exit`), as `multiprocessing` ends
its workers.

`GDSWEEP_FULL_EXIT=1`, or a Python without the hooks used here, gets the normal exit.

Memory. glibc's malloc hands each block over 128 KiB out as fresh pages from the kernel and gives
them back when it is freed, so every new tensor of a few MiB page-faults on each 4 KiB it touches
first. A dense scan's bookkeeping makes such tensors by the hundred; on 2 cores the faults cost
more than its arithmetic. `keep_freed_memory()` (in `run` and at the start of every job) raises
glibc's mmap and trim thresholds, as jemalloc or tcmalloc would behave: a freed block up to
64 MiB is kept and reused by the next one (glibc's own adaptive threshold stops at 32 MiB and, as
measured here, page-faulted a scan's labels from 6 to 120 thousand times, from run to run). The
process keeps what it freed at its peak, which does not grow with N. Elsewhere than glibc it does
nothing.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import gc
import os
import sys
import threading
from collections.abc import Callable
from typing import NoReturn

_settled = False
_kept = False
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt's parameters (malloc.h)
KEEP_BYTES = 64 << 20  # blocks up to this are kept; bigger ones still come from the kernel and go back


def run(command: Callable[[], object]) -> NoReturn:
    """Run a command's main function, the collector off until settle(); leave with its exit code."""
    gc.disable()
    keep_freed_memory()
    try:
        command()
    except SystemExit as stop:
        leave(stop.code)
    leave(0)


def settle() -> None:
    """The heavy imports are done: freeze what they made, once per process, and collect again.
    A job started by another launcher (joblib, SLURM) keeps freed memory from here on too."""
    global _settled
    keep_freed_memory()
    if not _settled:
        gc.freeze()
        _settled = True
    gc.enable()


def keep_freed_memory() -> None:
    """Have glibc keep freed blocks up to KEEP_BYTES for reuse instead of returning them (once per process)."""
    global _kept
    if _kept:
        return
    _kept = True
    with contextlib.suppress(AttributeError, ValueError, OSError):  # not glibc: nothing to set
        if os.confstr("CS_GNU_LIBC_VERSION"):
            mallopt = ctypes.CDLL("libc.so.6").mallopt
            for keep in (KEEP_BYTES, KEEP_BYTES // 2):  # an older glibc refuses more than 32 MiB
                if mallopt(M_MMAP_THRESHOLD, keep):
                    mallopt(M_TRIM_THRESHOLD, 2 * keep)
                    break


def leave(code: object = 0) -> NoReturn:
    """End the process with `code` (as sys.exit takes it: None, an int, or a message for stderr)."""
    join_threads = getattr(threading, "_shutdown", None)
    run_atexit = getattr(atexit, "_run_exitfuncs", None)
    if join_threads is None or run_atexit is None or os.environ.get("GDSWEEP_FULL_EXIT") == "1":
        sys.exit(code)
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    join_threads()
    run_atexit()
    wal = sys.modules.get("gdsweep.tracking.wal")  # loaded where a store was opened (not for --help)
    if wal is not None:
        wal.checkpoint()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed pipe: nothing left to say
            stream.flush()
    os._exit(code & 0xFF)
