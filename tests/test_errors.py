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
    ("tracking.uri=ftp://127.0.0.1/runs", "tracking.uri:"),
    ("tracking.uri=gopher://127.0.0.1/runs", "tracking.uri:"),
    ("tracking.uri=sqlite:///a_file/store/mlflow.db", "tracking.uri:"),  # its folder under a file
    ("tracking.uri=sqlite:////proc/gdsweep/mlflow.db", "tracking.uri:"),  # under /proc: not creatable
    ("tracking.uri=sqlite:////proc/mlflow.db", "tracking.uri:"),  # /proc itself: not writable
    ("tracking.uri=sqlite:///a_dir", "tracking.uri:"),  # a folder, not a file
    ("tracking.experiment=", "tracking.experiment:"),
    ("tracking.experiment='  '", "tracking.experiment:"),
    ("lr=0.1,1.0 tracking.experiment= --multirun", "tracking.experiment:"),
    ("lr=0.1,1.0 tracking.uri=ftp://127.0.0.1/runs --multirun", "tracking.uri:"),
    ("function=expr function.expr=x**2+sin(x)/2", "function.expr:"),
    ("function=expr function.expr=max(x,1)", "function.expr:"),
    ("function=expr function.expr=x**2+sin(x) lr=0.1,1 --multirun", "function.expr:"),
    ("function=scaled_quadratic function.a=abc", "function.a:"),
    ("function=ill_conditioned function.eigenvalues=[1,abc]", "function.eigenvalues:"),
]


def assert_no_run_left_running(tmp_path):
    if (tmp_path / "outputs" / "mlflow.db").exists():
        assert [r.info.status for r in all_runs(embedded_client(tmp_path)) if r.info.status == "RUNNING"] == []


@pytest.mark.parametrize("override,key", BAD, ids=[b[0][:40] for b in BAD])
def test_bad_value_gets_one_line_naming_the_key(cli, tmp_path, override, key):
    (tmp_path / "a_file").write_text("not a folder")
    (tmp_path / "a_dir").mkdir()
    result = cli(*shlex.split(override))
    assert_one_line(result, key, tmp_path)
    if key.startswith("tracking."):  # nothing written: no store, not even the embedded one
        assert not (tmp_path / "outputs" / "mlflow.db").exists()
        assert not list(tmp_path.glob("**/*.db"))


def assert_one_line(result, key, tmp_path):
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0
    assert len(lines) == 1, result.stderr
    problem, fix = lines[0].split("; ", 1)
    assert problem.startswith(f"gdsweep: error: {key}")
    typed = (key.rstrip(":") + "=", key.split(".")[0].rstrip(":") + "=", "x[0]", "formula")
    assert any(override in fix for override in typed), fix  # the override to type
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


def test_a_read_only_store_file_is_one_line(cli, tmp_path):
    store = tmp_path / "store" / "mlflow.db"
    assert cli(f"tracking.uri=sqlite:///{store}", "N=2").returncode == 0
    before = store.read_bytes()
    store.chmod(0o444)
    result = cli(f"tracking.uri=sqlite:///{store}", "N=2")
    assert_one_line(result, "tracking.uri:", tmp_path)
    assert "is read-only" in result.stderr and store.read_bytes() == before  # not one byte written


def test_a_url_that_answers_but_is_not_mlflow_is_one_line(cli, tmp_path):
    import subprocess
    import sys

    from tests.test_faults import free_port

    port = free_port()
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "health").write_text("OK")  # even /health answers 200
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(tmp_path / "site")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import time
        import urllib.request

        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        for sweep in ([], ["lr=0.1,1.0", "--multirun"]):
            result = cli(f"tracking.uri=http://127.0.0.1:{port}", "N=2", *sweep)
            assert_one_line(result, "tracking.uri:", tmp_path)
            assert "answers, but not as an MLflow tracking server" in result.stderr
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_an_experiment_whose_artifacts_cannot_be_written_is_one_line(cli, tmp_path):
    (tmp_path / "a_file").write_text("not a folder")
    client = embedded_client(tmp_path)
    client.create_experiment("blocked", artifact_location=(tmp_path / "a_file" / "artifacts").as_uri())
    result = cli("tracking.experiment=blocked", "N=2")
    assert_one_line(result, "tracking.experiment:", tmp_path)
    assert all_runs(client, "blocked") == []


@pytest.mark.parametrize(
    "arguments",
    [["lr=0.1,1.0", "--multirun", "N=5"], ["-m", "lr=0.1,1.0", "N=5"], ["lr=0.1,1.0", "-m", "N=5"]],
    ids=["--multirun between", "-m first", "-m between"],
)
def test_multirun_flag_works_wherever_it_stands(cli, tmp_path, arguments):
    result = cli(*arguments)
    assert result.returncode == 0, result.stderr
    runs = all_runs(embedded_client(tmp_path))
    assert sorted(r.data.params["lr"] for r in runs if "mlflow.parentRunId" in r.data.tags) == ["0.1", "1.0"]
    assert {r.data.params["N"] for r in runs if "mlflow.parentRunId" in r.data.tags} == {"5"}
