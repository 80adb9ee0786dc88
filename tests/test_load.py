"""Load: 64 jobs on 8 joblib workers lose nothing, on a fresh embedded store and on a real
`mlflow server` on 127.0.0.1 backed by PostgreSQL (the team set-up the README describes)."""

import time

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import embedded_client
from tests.test_multirun import check_sweep

LRS = [f"{k / 100:g}" for k in range(1, 65)]  # 64 converging lrs on x**2
STEPS = 100


def joblib_sweep(cli, env=None):
    started = time.monotonic()
    result = cli(
        f"lr={','.join(LRS)}", f"N={STEPS}", "hydra/launcher=joblib", "hydra.launcher.n_jobs=8", "--multirun", env=env
    )
    print(f"64 jobs on 8 joblib workers: {time.monotonic() - started:.1f} s wall")
    assert result.returncode == 0, result.stderr
    return result


@pytest.mark.slow
def test_64_joblib_jobs_on_a_fresh_embedded_store_lose_nothing(cli, tmp_path):
    assert not (tmp_path / "outputs").exists()
    joblib_sweep(cli)
    check_sweep(embedded_client(tmp_path), LRS, STEPS)


@pytest.mark.slow
def test_64_joblib_jobs_against_a_postgresql_backed_server_lose_nothing(cli, tmp_path, mlflow_server, postgres):
    result = joblib_sweep(cli, env={"MLFLOW_TRACKING_URI": mlflow_server})
    parent, _ = check_sweep(MlflowClient(tracking_uri=mlflow_server), LRS, STEPS)
    assert len(parent.info.run_name) == 250  # cut to PostgreSQL's column (the 64 lrs make it 330 characters long)
    assert (
        parent.data.tags["gdsweep.overrides"].startswith("lr=0.01,0.02,")
        and "0.64" in parent.data.tags["gdsweep.overrides"]
    )
    database = postgres.served[mlflow_server]  # and it is all in PostgreSQL: 65 runs, 101 cost points per job
    assert postgres.execute(database, "SELECT status, count(*) FROM runs GROUP BY status") == [("FINISHED", 65)]
    assert postgres.execute(database, "SELECT count(*) FROM metrics WHERE key = 'cost'") == [(64 * (STEPS + 1),)]
    assert not (tmp_path / "outputs" / "mlflow.db").exists()  # everything went to the server
    assert f"open {mlflow_server} in a browser" in result.stdout
    report = {a.path for a in MlflowClient(tracking_uri=mlflow_server).list_artifacts(parent.info.run_id, "report")}
    assert "report/report.csv" in report
