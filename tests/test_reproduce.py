"""A run is reproducible from MLflow alone: by gdsweep.reproduce, and by plain Hydra from its artifact."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gdsweep import tracking
from gdsweep.jobs.runner import execute
from gdsweep.reproduce import reproduce
from tests.conftest import embedded_client

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_reproduced_histories_are_bitwise_identical(make_config, tmp_path, dtype):
    overrides = ["function=double_well", "lr=0.27", "N=300", "x0=0.5", f"dtype={dtype}"]
    source = execute(make_config(*overrides), overrides=overrides)
    result = reproduce(source.uri, source.run_id)
    assert result.identical, result.first_difference
    client = embedded_client(tmp_path)
    copy = client.get_run(result.run_id)
    assert copy.data.tags["gdsweep.reproduces"] == source.run_id and copy.data.tags["regime"] == "oscillating"
    for key in ("cost", "x", "grad_norm"):
        old = [(m.step, m.value) for m in client.get_metric_history(source.run_id, key)]
        new = [(m.step, m.value) for m in client.get_metric_history(result.run_id, key)]
        assert sorted(old) == sorted(new) and len(old) == 301


def test_every_run_records_what_it_was_computed_with(make_config, tmp_path):
    tags = embedded_client(tmp_path).get_run(execute(make_config()).run_id).data.tags
    assert {"gdsweep.version", "torch.version", "python.version", "mlflow.version", "device", "device.name"} <= set(
        tags
    )
    if (REPO / ".git").exists():
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
        assert tags["mlflow.source.git.commit"] == head.stdout.strip()


def test_reproduce_command_and_plain_hydra_from_the_artifact(make_config, tmp_path):
    source = execute(make_config("function=rosenbrock", "lr=0.001", "N=40"), overrides=["function=rosenbrock"])
    done = subprocess.run(
        [sys.executable, "-m", "gdsweep.reproduce", source.run_id, "--tracking-uri", source.uri],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0 and "identical" in done.stdout, done.stderr
    client = embedded_client(tmp_path)
    artifacts = Path(client.download_artifacts(source.run_id, "hydra", str(tmp_path)))
    plain = subprocess.run(
        [
            sys.executable,
            "-m",
            "gdsweep",
            "--config-dir",
            str(artifacts),
            "--config-name",
            "config.resolved",
            f"tracking.uri={source.uri}",
            "tracking.run_name=plain",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert plain.returncode == 0, plain.stderr
    store = tracking.Store(source.uri, client.get_run(source.run_id).info.experiment_id)
    [again] = client.search_runs([store.experiment_id], "attributes.run_name = 'plain'")
    assert tracking.histories(store, again.info.run_id, ["cost"]) == tracking.histories(store, source.run_id, ["cost"])


def test_reproducing_an_unknown_run_is_one_clear_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "gdsweep.reproduce", "0" * 32, "--tracking-uri", f"sqlite:///{tmp_path / 'x.db'}"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.strip() == f"gdsweep.reproduce: error: no MLflow store at {tmp_path / 'x.db'}"


def test_a_run_logged_before_the_layout_move_still_reproduces(make_config, tmp_path):
    """Runs logged before gdsweep was split into layers name `gdsweep.callbacks.SweepTracking`."""
    overrides = ["function=double_well", "lr=0.27", "N=60", "x0=0.5"]
    source = execute(make_config(*overrides), overrides=overrides)
    client = embedded_client(tmp_path)
    folder = Path(client.download_artifacts(source.run_id, "hydra", str(tmp_path)))
    stored = yaml.safe_load((folder / "config.resolved.yaml").read_text())
    stored["hydra"] = {"callbacks": {"sweep_tracking": {"_target_": "gdsweep.callbacks.SweepTracking"}}}
    old_way = tmp_path / "old" / "config.resolved.yaml"
    old_way.parent.mkdir()
    old_way.write_text(yaml.safe_dump(stored))
    client.log_artifact(source.run_id, str(old_way), "hydra")
    result = reproduce(source.uri, source.run_id)
    assert result.identical, result.first_difference
    assert client.get_run(result.run_id).data.tags["regime"] == client.get_run(source.run_id).data.tags["regime"]
