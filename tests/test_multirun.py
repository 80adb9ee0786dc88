"""A real `python -m gdsweep ... --multirun` in a subprocess: one parent run, nested children."""

from tests.conftest import all_runs, embedded_client

LRS = ["0.01", "0.1", "1.0", "1.1"]
EXPECTED = {"0.01": "converging", "0.1": "converging", "1.0": "oscillating", "1.1": "diverging"}


def check_sweep(client, lrs, steps):
    runs = all_runs(client)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1
    parent = parents[0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(runs) == len(lrs) + 1 and len(children) == len(lrs)
    assert parent.info.status == "FINISHED" and all(c.info.status == "FINISHED" for c in children)
    assert sorted(c.data.params["lr"] for c in children) == sorted(lrs)
    for child in children:
        for key in ("cost", "grad_norm", "x"):
            points = client.get_metric_history(child.info.run_id, key)
            finite_steps = steps + 1 if child.data.tags["regime"] != "diverging" else len(points)
            assert sorted(p.step for p in points) == list(range(finite_steps)), key
        assert "hydra/config.yaml" in {a.path for a in client.list_artifacts(child.info.run_id, "hydra")}
        assert "hydra/overrides.yaml" in {a.path for a in client.list_artifacts(child.info.run_id, "hydra")}
    return parent, children


def test_multirun_creates_one_parent_with_a_child_per_lr(cli, tmp_path):
    result = cli(f"lr={','.join(LRS)}", "N=30", "--multirun")
    assert result.returncode == 0, result.stderr
    parent, children = check_sweep(embedded_client(tmp_path), LRS, 30)
    assert parent.info.run_name == f"sweep lr={','.join(LRS)} N=30"
    for child in children:
        assert child.data.tags["regime"] == EXPECTED[child.data.params["lr"]]
        assert child.data.params["N"] == "30"
    table = [line.split() for line in result.stdout.splitlines() if line.split()[:2] in (["lr", "regime"],)]
    rows = {
        line.split()[0]: line
        for line in result.stdout.splitlines()
        if " converging" in line or " oscillating" in line or " diverging" in line
    }
    assert table and {"0.01", "1", "1.1"} <= set(rows)
    assert "converging" in rows["0.01"] and "oscillating" in rows["1"] and "diverging" in rows["1.1"]
    assert "mlflow ui --backend-store-uri sqlite:///outputs/mlflow.db" in result.stdout


def test_a_sweep_whose_every_job_fails_exits_1_naming_each_and_records_them(cli, tmp_path):
    """No finished run means no report to draw; the sweep still says what failed and exits 1."""
    result = cli("lr=-1,-2", "N=5", "--multirun")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "Warning" not in result.stderr, result.stderr
    assert "gdsweep: error: 2 of 2 jobs failed" in result.stderr
    runs = all_runs(embedded_client(tmp_path))
    [parent] = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert parent.info.status == "FAILED"
    assert sorted(r.data.params["lr"] for r in children) == ["-1", "-2"]
    assert all(r.info.status == "FAILED" and r.data.tags["error"].startswith("lr: ") for r in children)
