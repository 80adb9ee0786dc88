"""Is the tracking setting usable? Asked before MLflow is touched, so a bad one is one line, not a traceback.

`tracking.uri` (a scheme MLflow stores runs under; an SQLite file whose folder can be created and
written and which is not read-only; a server that answers as MLflow does), `tracking.experiment`
(not empty) and the experiment's artifact location (a local one must be writable). Nothing is
created until every check has passed. No MLflow import.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from urllib.parse import unquote, urlparse

from gdsweep.errors import GdsweepError, require_writable

SCHEMES = {"", "file", "sqlite", "postgresql", "mysql", "mssql", "http", "https", "databricks"}
USE_INSTEAD = (
    "use tracking.uri=sqlite:///PATH/mlflow.db or tracking.uri=http://HOST:PORT (an mlflow server), or unset it"
)


def check_experiment(name: str | None) -> None:
    if name is None or not str(name).strip():
        raise GdsweepError(
            "tracking.experiment", "the experiment name is empty", "name one, e.g. tracking.experiment=gdsweep"
        )


def check_uri(uri: str) -> None:
    """The URI's scheme is one MLflow stores runs under, and an SQLite store can be written."""
    scheme = uri.split("://", 1)[0].split(":", 1)[0].lower() if ":" in uri else ""
    if len(scheme) == 1:  # a Windows drive letter, C:\...
        scheme = ""
    if scheme.split("+", 1)[0] not in SCHEMES:
        raise GdsweepError("tracking.uri", f"MLflow cannot store runs at {uri} (no {scheme}:// store)", USE_INSTEAD)
    if scheme == "sqlite":
        database = Path(unquote(uri.removeprefix("sqlite:///"))) if uri.startswith("sqlite:///") else None
        if database is None or not str(database):
            raise GdsweepError("tracking.uri", f"{uri} names no database file", USE_INSTEAD)
        check_sqlite(database)


def check_sqlite(database: Path) -> None:
    """The store's folder exists or can be created, a file can be written in it, the file is not read-only."""
    fix = "point it at a folder you can write, e.g. tracking.uri=sqlite:///$HOME/mlflow/mlflow.db"
    if database.is_dir():
        raise GdsweepError("tracking.uri", f"cannot write the SQLite store {database} (Is a directory)", fix)
    require_writable(database.parent, "tracking.uri", f"cannot write the SQLite store {database}", fix)
    if database.exists() and (not os.access(database, os.W_OK) or not database.stat().st_mode & 0o222):
        raise GdsweepError(
            "tracking.uri",
            f"the SQLite store {database} is read-only ({stat.filemode(database.stat().st_mode)})",
            f"make it writable (chmod u+w {database}) or use another, e.g. tracking.uri=sqlite:///$HOME/mlflow/mlflow.db",
        )


def check_artifact_location(location: str | None, experiment: str) -> None:
    """A local artifact location (file:// or a path) must be a folder that can be created and written."""
    if not location:
        return
    parsed = urlparse(location)
    if parsed.scheme not in ("", "file"):
        return  # s3://, mlflow-artifacts:/ ...: the server's or the cloud's to check
    folder = Path(unquote(parsed.path) if parsed.scheme == "file" else location)
    require_writable(
        folder,
        "tracking.experiment",
        f"experiment {experiment!r} keeps its artifacts in {folder}, which cannot be written",
        "make that folder writable, or use another experiment, e.g. tracking.experiment=gdsweep-2",
    )
