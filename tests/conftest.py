"""Shared fixtures: a composed config, a temp MLflow store, and the real CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig

import gdsweep.config  # noqa: F401  (registers the schema)


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


def all_runs(client: MlflowClient, experiment: str = "gdsweep") -> list:
    found = client.get_experiment_by_name(experiment)
    return client.search_runs([found.experiment_id], max_results=10000) if found else []
