"""What a single run leaves in MLflow (a real SQLite store in a temp dir)."""

import math
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from gdsweep.jobs.runner import execute
from tests.conftest import all_runs, embedded_client


def history(client, run_id, key):
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def test_single_run_logs_params_histories_tags_and_config(make_config, tmp_path):
    outcome = execute(make_config("lr=0.1", "N=9"), overrides=["lr=0.1", "N=9"])
    client = embedded_client(tmp_path)
    run = client.get_run(outcome.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["lr"] == "0.1" and run.data.params["N"] == "9"
    assert run.data.params["function.name"] == "quadratic" and run.data.params["dtype"] == "float32"
    cost = history(client, outcome.run_id, "cost")
    assert [step for step, _ in cost] == list(range(10))
    assert [v for _, v in cost] == pytest.approx([16 * 0.64**k for k in range(10)], rel=1e-6)
    assert [v for _, v in history(client, outcome.run_id, "x")] == pytest.approx(
        [4 * 0.8**k for k in range(10)], rel=1e-6
    )
    assert [v for _, v in history(client, outcome.run_id, "grad_norm")] == pytest.approx(
        [8 * 0.8**k for k in range(10)], rel=1e-6
    )
    tags = run.data.tags
    assert (tags["regime"], tags["path"], tags["converged"]) == ("converging", "monotone", "false")
    assert "mlflow.parentRunId" not in tags
    assert run.data.metrics["rate"] == pytest.approx(0.64, rel=1e-5)
    artifacts = {a.path for a in client.list_artifacts(outcome.run_id, "hydra")}
    assert "hydra/config.resolved.yaml" in artifacts
    assert {"plots/cost_curve.png", "plots/path.png"} <= {
        a.path for a in client.list_artifacts(outcome.run_id, "plots")
    }
    logged = yaml.safe_load(Path(client.download_artifacts(outcome.run_id, "hydra/config.resolved.yaml")).read_text())
    assert (logged["lr"], logged["N"], logged["x0"], logged["function"]["name"]) == (0.1, 9, 4.0, "quadratic")


def test_embedded_store_and_artifacts_live_under_outputs(make_config, tmp_path):
    outcome = execute(make_config())
    assert outcome.uri == f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}"
    run = embedded_client(tmp_path).get_run(outcome.run_id)
    assert run.info.artifact_uri.startswith((tmp_path / "outputs").as_uri())


def test_diverging_run_logs_its_finite_steps_and_is_labelled(make_config, tmp_path):
    outcome = execute(make_config("lr=1.1", "N=1000"))
    client = embedded_client(tmp_path)
    run = client.get_run(outcome.run_id)
    cost = history(client, outcome.run_id, "cost")
    assert run.info.status == "FINISHED" and run.data.tags["regime"] == "diverging"
    first_bad = int(run.data.tags["nonfinite_from_step"])
    assert [s for s, _ in cost] == list(range(first_bad)) and all(math.isfinite(v) for _, v in cost)
    # float32 overflows where the theory says it must: x_k = 4·(−1.2)^k, so x_k² passes 3.4e38 there
    assert 16 * 1.44 ** (first_bad - 1) < 3.5e38 < 16 * 1.44 ** (first_bad + 1)
    assert 16 * 1.44**first_bad > 3.3e38


def test_oscillating_run_tags_its_period(make_config, tmp_path):
    outcome = execute(make_config("lr=1.0", "N=20"))
    run = embedded_client(tmp_path).get_run(outcome.run_id)
    assert (run.data.tags["regime"], run.data.tags["period"]) == ("oscillating", "2")
    assert [v for _, v in history(embedded_client(tmp_path), outcome.run_id, "x")] == [4.0, -4.0] * 10 + [4.0]


def test_tracking_uri_setting_picks_the_store(make_config, tmp_path):
    uri = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    outcome = execute(make_config(f"tracking.uri={uri}", "tracking.experiment=study"))
    assert outcome.uri == uri
    assert [r.info.run_id for r in all_runs(MlflowClient(uri), "study")] == [outcome.run_id]


def test_theory_and_sharpness_along_the_path_are_logged(make_config, tmp_path):
    overrides = ["function=rosenbrock", "lr=0.001", "N=20", "dtype=float64", "track_sharpness_every=5"]
    outcome = execute(make_config(*overrides), overrides=overrides)
    client = embedded_client(tmp_path)
    run = client.get_run(outcome.run_id)
    assert run.data.metrics["lambda_max"] == pytest.approx(1001.6006392325, rel=1e-9)
    assert run.data.metrics["critical_lr"] == pytest.approx(2 / (501 + math.sqrt(301**2 + 400**2)), rel=1e-9)
    assert run.data.tags["predicted_regime"] == "zigzag" and run.data.tags["theory_point"] == "minimiser (1, 1)"
    assert [s for s, _ in history(client, outcome.run_id, "sharpness")] == [0, 5, 10, 15, 20]
    start = history(client, outcome.run_id, "sharpness")[0][1]
    assert start == pytest.approx(1506.366981, rel=1e-6)  # λmax of Rosenbrock's Hessian at (-1.2, 1)
    distance = history(client, outcome.run_id, "dist_to_opt")
    assert len(distance) == 21 and distance[0][1] == pytest.approx(2.2)
    assert len(history(client, outcome.run_id, "x_0")) == 21 and len(history(client, outcome.run_id, "x_1")) == 21
