"""Shared fixtures: a composed config, a temp MLflow store, and the real CLI in a subprocess."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig

import gdsweep.config  # noqa: F401  (registers the schema)
from tests.postgres import postgres_cluster  # noqa: F401  (fixture `postgres`: a throw-away PostgreSQL cluster)


@pytest.fixture
def make_config(tmp_path: Path):
    """compose(overrides) -> the app's config, with outputs (and the embedded store) in tmp_path."""

    def make(*overrides: str) -> DictConfig:
        with initialize_config_module("gdsweep.conf", version_base="1.3"):
            return compose("config", overrides=[f"outputs_dir={tmp_path / 'outputs'}", *overrides])

    return make


@pytest.fixture
def cli(tmp_path: Path, monkeypatch):
    """Run `python -m gdsweep ARGS` in tmp_path (not the repo), embedded store under tmp_path/outputs."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
        environment = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "HYDRA_FULL_ERROR")}
        environment.update(env or {})
        return subprocess.run(
            [sys.executable, "-m", "gdsweep", *args],
            cwd=tmp_path,
            env=environment,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run


def embedded_client(tmp_path: Path) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")


def wait_for_row(tmp_path: Path, process: subprocess.Popen, query: str, accept, what: str, timeout: float) -> tuple:
    """Poll the embedded store with `query` until its first row passes accept(row), while `process`
    runs; that row.

    Read with sqlite3, read-only: an MlflowClient would run schema migrations on a database the
    process is still creating (or thinks it must), and two processes doing that corrupt it.
    """
    database = tmp_path / "outputs" / "mlflow.db"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else f"exit {process.returncode}"
        try:
            with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
                row = connection.execute(query).fetchone()
            if row is not None and accept(row):
                return row
        except sqlite3.Error:  # not created yet
            pass
        time.sleep(0.2)
    raise AssertionError(f"{what} in time")


def wait_for_store(tmp_path: Path, process: subprocess.Popen, query: str, at_least: int, what: str, timeout: float) -> None:
    """Wait until `query` (a COUNT over the embedded store) reaches at_least, while `process` runs."""
    wait_for_row(tmp_path, process, query, lambda row: row[0] >= at_least, what, timeout)


def all_runs(client: MlflowClient, experiment: str = "gdsweep") -> list:
    found = client.get_experiment_by_name(experiment)
    return client.search_runs([found.experiment_id], max_results=10000) if found else []


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory, postgres) -> Iterator[str]:
    """A real `mlflow server` on 127.0.0.1 (free port), a team's set-up: runs in a fresh PostgreSQL
    database (on the session's cluster), artifacts in a temp dir; its URL.

    Started for the module's tests and stopped after them, by its PID.
    """
    folder = tmp_path_factory.mktemp("mlflow_server")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    backend = postgres.new_database()
    command += ["--backend-store-uri", backend]
    command += ["--artifacts-destination", str(folder / "artifacts")]
    url = f"http://127.0.0.1:{port}"
    with open(folder / "server.log", "w") as log:
        server = subprocess.Popen(command, cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (folder / "server.log").read_text()
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "mlflow server did not start"
                time.sleep(0.5)
        postgres.served[url] = backend
        yield url
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
