"""The embedded SQLite store's write-ahead log: switched on for a new database, folded back into
the database file before a command ends.

In WAL mode a commit appends to `mlflow.db-wal` (half the cost of a rollback-journal commit, and
parallel jobs read while one writes); SQLite folds the log into `mlflow.db` when the last
connection closes. gdsweep ends its commands without the interpreter's teardown (`gdsweep.lifecycle`),
so nothing closes MLflow's pooled connections: `checkpoint()` folds the log of every database this
process opened, so that `mlflow.db` alone holds every run, as after a normal exit.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

_opened: set[Path] = set()  # the SQLite databases open_store connected to in this process


def opened(database: Path, new: bool) -> None:
    """Note a database open_store connected to; a new one is switched to write-ahead logging."""
    _opened.add(database)
    if new:
        with contextlib.closing(sqlite3.connect(database)) as connection:
            connection.execute("PRAGMA journal_mode=WAL")


def checkpoint() -> None:
    """Fold the write-ahead log of each database opened here into its file (a no-op without one).

    Best effort: a database that is gone, or busy in another process, keeps its log, which SQLite
    reads (and folds) at its next open.
    """
    for database in sorted(_opened):
        with contextlib.suppress(sqlite3.Error), contextlib.closing(sqlite3.connect(database, timeout=1)) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
