"""Bad input through the real CLI: one line naming the key and the fix, non-zero exit, nothing RUNNING."""

import shlex

import pytest

from tests.conftest import all_runs, embedded_client

BAD = [
    ("lr=abc", "lr:"),
    ("lr=0", "lr:"),
    ("lr=-1", "lr:"),
    ("lr=nan", "lr:"),
    ("lr=inf", "lr:"),
    ("lr=[0.1,0.2]", "lr:"),
    ("N=0", "N:"),
    ("N=-3", "N:"),
    ("N=2.5", "N:"),
    ("N=many", "N:"),
    ("device=gpu", "device:"),
    ("device=cuda:99", "device:"),
    ("dtype=float16", "dtype:"),
    ("function=nope", "function:"),
    ("function.name=nope", "function.name:"),
    ("x0=[1,a]", "x0:"),
    ("x0=[]", "x0:"),
    ("x0=[1,2,3] function=himmelblau", "x0:"),
    ("""function=expr "function.expr='__import__(os).system(1)'" """, "function.expr:"),
    ("""function=expr "function.expr='x.__class__'" """, "function.expr:"),
    ("""function=expr "function.expr='y**2'" """, "function.expr:"),
    ("""function=expr "function.expr='x[3]'" x0=[1,2]""", "function.expr:"),
    ("""function=expr "function.expr='x**'" """, "function.expr:"),
    (f"""function=expr "function.expr='{"x+" * 300}x'" """, "function.expr:"),
    (f"""function=expr "function.expr='{"-" * 60}x'" """, "function.expr:"),
    ("track_sharpness_every=-1", "track_sharpness_every:"),
    ("tracking.chunk_steps=0", "tracking.chunk_steps:"),
    ("tracking.max_points=5", "tracking.max_points:"),
    ("tracking.max_points=abc", "tracking.max_points:"),
    ("scan=dense scan.lr_min=-1", "scan.lr_min:"),
    ("scan=dense scan.spacing=cubic", "scan.spacing:"),
    ("scan=dense scan.lr_min=2 scan.lr_max=1", "scan.lr_max:"),
    ("scan=edge scan.lr_max=0.9", "scan.lr_max:"),
]


def assert_no_run_left_running(tmp_path):
    if (tmp_path / "outputs" / "mlflow.db").exists():
        assert [r.info.status for r in all_runs(embedded_client(tmp_path)) if r.info.status == "RUNNING"] == []


@pytest.mark.parametrize("override,key", BAD, ids=[b[0][:40] for b in BAD])
def test_bad_value_gets_one_line_naming_the_key(cli, tmp_path, override, key):
    result = cli(*shlex.split(override))
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0
    assert len(lines) == 1, result.stderr
    problem, fix = lines[0].split("; ", 1)
    assert problem.startswith(f"gdsweep: error: {key}")
    typed = (key.rstrip(":") + "=", key.split(".")[0].rstrip(":") + "=", "x[0]", "formula")
    assert any(override in fix for override in typed)  # the override to type
    assert "Traceback" not in result.stderr + result.stdout
    assert_no_run_left_running(tmp_path)


def test_full_error_shows_the_traceback_when_asked(cli):
    result = cli("lr=abc", env={"HYDRA_FULL_ERROR": "1"})
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_a_bad_job_in_a_sweep_is_recorded_and_the_others_still_run(cli, tmp_path):
    result = cli("lr=0.1,-1,1.0", "--multirun")
    assert result.returncode != 0
    assert "gdsweep: error: lr: -1 is not positive" in result.stderr and "Traceback" not in result.stderr
    runs = all_runs(embedded_client(tmp_path))
    by_lr = {r.data.params.get("lr"): r for r in runs if "mlflow.parentRunId" in r.data.tags}
    assert {lr: r.info.status for lr, r in by_lr.items()} == {"0.1": "FINISHED", "-1": "FAILED", "1.0": "FINISHED"}
    assert "lr: -1 is not positive" in by_lr["-1"].data.tags["error"]
    [parent] = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert parent.info.status == "FAILED"
    assert_no_run_left_running(tmp_path)


def test_a_sweep_hydra_rejects_midway_leaves_no_run_running(cli, tmp_path):
    # Hydra itself rejects the unknown key while composing the jobs, after the parent run exists
    result = cli("lr=0.1,0.2", "not_a_key=1,2", "--multirun")
    assert result.returncode != 0 and "not_a_key" in result.stderr
    [parent] = all_runs(embedded_client(tmp_path))
    assert parent.info.status == "FAILED"
