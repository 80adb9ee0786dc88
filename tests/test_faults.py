"""Faults leave an honest record: Ctrl-C/SIGTERM end the run KILLED with its steps logged, a dead
tracking server or an unwritable outputs_dir is one clear line within seconds, nothing left RUNNING."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from gdsweep import tracking
from tests.conftest import all_runs, embedded_client, wait_for_store


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_logged_steps(tmp_path, at_least: int, process: subprocess.Popen, timeout: float = 120) -> None:
    """Wait until the embedded store holds at least this many cost points."""
    query = "SELECT COUNT(*) FROM metrics WHERE key = 'cost'"
    wait_for_store(tmp_path, process, query, at_least, "the run did not log its first chunks", timeout)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_run_ends_it_killed_with_every_computed_step_logged(tmp_path, signum):
    environment = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    process = subprocess.Popen(
        # max_points=0: every step in the metric histories too, so the test can watch them grow
        [
            sys.executable,
            "-m",
            "gdsweep",
            "N=50000000",
            "tracking.chunk_steps=500",
            "tracking.max_points=0",
            "device=cpu",
        ],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_logged_steps(tmp_path, 1001, process)
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 128 + signum
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    stopped_at = int(lines[0].split("after step ")[1].split()[0])
    assert lines[0].startswith(f"gdsweep: stopped by {signal.Signals(signum).name} after step")
    client = embedded_client(tmp_path)
    [run] = all_runs(client)
    run_id = run.info.run_id
    assert run.info.status == "KILLED" and "stopped by" in run.data.tags["error"]
    assert run.data.params["N"] == "50000000"
    for key in ("cost", "grad_norm", "x"):
        steps = sorted(p.step for p in client.get_metric_history(run_id, key))
        assert steps == list(range(stopped_at + 1)), key  # every step computed, none twice, no gap
    store = tracking.Store(client.tracking_uri, run.info.experiment_id)
    table = tracking.read_trajectory(store, run_id)  # the table artifact is logged before the run ends KILLED
    assert table["step"].tolist() == list(range(stopped_at + 1))
    assert stopped_at >= 1000 and stopped_at % 500 == 0


def test_an_exception_ends_the_run_failed_with_the_error_tagged(tmp_path):
    store = tracking.open_store(tracking.embedded_uri(tmp_path), "gdsweep", tmp_path)
    with pytest.raises(RuntimeError), tracking.tracked_run(store, "boom", {}) as run_id:
        raise RuntimeError("CUDA out of memory")
    run = store.client.get_run(run_id)
    assert run.info.status == "FAILED" and run.data.tags["error"] == "CUDA out of memory"


@pytest.mark.parametrize("sweep", [False, True], ids=["run", "multirun"])
def test_an_unreachable_tracking_server_is_one_line_within_seconds(cli, tmp_path, sweep):
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    result = cli(*(["lr=0.1,1.0", "--multirun"] if sweep else []), env={"MLFLOW_TRACKING_URI": uri})
    assert time.monotonic() - started < 30
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [lines[0]] and lines[0].startswith(
        f"gdsweep: error: tracking.uri: no MLflow server answers at {uri}"
    )
    assert "mlflow server --host 127.0.0.1" in lines[0] and "Traceback" not in result.stderr


@pytest.mark.parametrize("sweep", [False, True], ids=["run", "multirun"])
def test_an_unwritable_outputs_dir_is_one_line(cli, tmp_path, sweep):
    (tmp_path / "a_file").write_text("not a folder")
    result = cli("outputs_dir=a_file/outputs", *(["lr=0.1,1.0", "--multirun"] if sweep else []))
    assert result.returncode == 2
    expected = (
        "gdsweep: error: outputs_dir: cannot write to a_file/outputs (Not a directory); "
        "point outputs_dir at a folder you can write, e.g. outputs_dir=$HOME/gdsweep-outputs"
    )
    assert result.stderr.strip().splitlines() == [expected]
