"""A throw-away PostgreSQL cluster for the tracking-server tests: `initdb` + `postgres` in a temp folder,
listening on a Unix socket only (no TCP port), as the `postgres` system user when run as root
(PostgreSQL refuses to run as root). Stopped by its PID, and its folder removed, after the session."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest


def _binary(name: str) -> str | None:
    """PATH first, then Debian's /usr/lib/postgresql/<version>/bin (not on PATH there)."""
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found if isinstance(found, str) else (found[-1] if found else None)


def _as_owner() -> list[str]:
    """The prefix that runs a command as the cluster's owner: `postgres` when we are root."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]


class Postgres:
    """A running cluster: new databases on demand, and SQL for tests that look inside."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.served: dict[str, str] = {}  # tracking-server URL -> its backend-store URI (conftest's mlflow_server)
        self._databases = 0

    def new_database(self) -> str:
        """A fresh, empty database; its SQLAlchemy URI (what `mlflow server --backend-store-uri` takes)."""
        self._databases += 1
        name = f"mlflow{self._databases}"
        self.execute("postgres", f"CREATE DATABASE {name}")
        return f"postgresql+psycopg2://gdsweep@/{name}?host={self.folder}"  # SQLAlchemy 2.1 defaults to psycopg 3

    def execute(self, database: str, sql: str) -> list[tuple]:
        import psycopg2

        name = urlsplit(database).path.lstrip("/") if "://" in database else database  # a URI or a name
        connection = psycopg2.connect(dbname=name, user="gdsweep", host=str(self.folder))
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchall() if cursor.description else []
        finally:
            connection.close()


@pytest.fixture(scope="session", name="postgres")
def postgres_cluster() -> Iterator[Postgres]:
    """A fresh PostgreSQL cluster for the session (Unix socket in a temp folder, no TCP port)."""
    initdb, server_binary = _binary("initdb"), _binary("postgres")
    if not (initdb and server_binary):
        pytest.skip("PostgreSQL not installed (apt-get install postgresql; .ci/run does)")
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no `postgres` user to run PostgreSQL as")
    folder = Path(tempfile.mkdtemp(prefix="gdsweep-pg-"))  # short: a socket path must fit 107 bytes
    if os.geteuid() == 0:
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    data = folder / "data"
    subprocess.run(
        [*_as_owner(), initdb, "-D", str(data), "-U", "gdsweep", "--auth=trust", "-E", "UTF8", "--no-sync"],
        check=True,
        capture_output=True,
    )
    settings = ["-c", "listen_addresses=", "-c", f"unix_socket_directories={folder}", "-c", "fsync=off"]
    with open(folder / "postgres.log", "wb") as log:  # setpriv execs: the PID is postgres's own
        server = subprocess.Popen([*_as_owner(), server_binary, "-D", str(data), *settings], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while not _accepts(folder):
            assert server.poll() is None, (folder / "postgres.log").read_text()
            assert time.monotonic() < deadline, "PostgreSQL did not start in 60 s"
            time.sleep(0.2)
        yield Postgres(folder)
    finally:
        server.send_signal(signal.SIGINT)  # PostgreSQL's "fast" shutdown
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(folder, ignore_errors=True)


def _accepts(folder: Path) -> bool:
    import psycopg2

    try:
        psycopg2.connect(dbname="postgres", user="gdsweep", host=str(folder), connect_timeout=2).close()
    except psycopg2.OperationalError:
        return False
    return True
