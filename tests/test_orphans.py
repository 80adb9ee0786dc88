"""No run stays RUNNING after a hard kill: the next gdsweep command on the store ends it KILLED."""

import os
import signal
import socket
import subprocess
import sys

from gdsweep.tracking import orphans
from tests.conftest import all_runs, embedded_client
from tests.test_faults import wait_for_logged_steps


def start(tmp_path, *arguments):
    environment = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return subprocess.Popen(
        [sys.executable, "-m", "gdsweep", *arguments, "tracking.chunk_steps=500", "device=cpu"],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_9(process):
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL


def test_a_run_killed_with_sigkill_is_ended_killed_by_the_next_command(cli, tmp_path):
    process = start(tmp_path, "N=50000000")
    try:
        wait_for_logged_steps(tmp_path, 501, process)
    finally:
        kill_9(process)
    client = embedded_client(tmp_path)
    [victim] = all_runs(client)
    assert victim.info.status == "RUNNING"  # MLflow itself never cleans up
    assert victim.data.tags[orphans.HOST] == socket.gethostname()
    assert victim.data.tags[orphans.PID] == str(process.pid) and victim.data.tags[orphans.START].isdigit()
    # a run of another host, and one of this host whose process is alive (this test), are left alone
    experiment = victim.info.experiment_id
    elsewhere = client.create_run(experiment, tags={orphans.HOST: "another-host", orphans.PID: "1"}).info.run_id
    mine = orphans.process_tags()
    living = client.create_run(experiment, tags=mine).info.run_id
    # this host, a pid that now belongs to another process (same pid, other start time)
    reused = client.create_run(experiment, tags={**mine, orphans.START: "1"}).info.run_id

    result = cli("N=2")
    assert result.returncode == 0, result.stderr
    status = {r.info.run_id: r for r in all_runs(client)}
    assert status[victim.info.run_id].info.status == "KILLED"
    error = status[victim.info.run_id].data.tags["error"]
    assert error.startswith("found orphaned") and str(process.pid) in error and " at 20" in error
    assert status[reused].info.status == "KILLED"
    assert status[elsewhere].info.status == "RUNNING" and status[living].info.status == "RUNNING"
    finished = [r for r in status.values() if r.info.status == "FINISHED"]
    assert len(finished) == 1 and finished[0].data.params["N"] == "2"


def test_a_sweep_killed_with_sigkill_ends_its_parent_and_job_killed(cli, tmp_path):
    process = start(tmp_path, "N=50000000", "lr=0.1,0.2", "--multirun")
    try:
        wait_for_logged_steps(tmp_path, 501, process)
    finally:
        kill_9(process)
    client = embedded_client(tmp_path)
    before = all_runs(client)
    assert sorted(r.info.status for r in before) == ["RUNNING", "RUNNING"]  # the parent and the first job
    result = cli("N=2")
    assert result.returncode == 0, result.stderr
    after = {r.info.run_id: r for r in all_runs(client)}
    for run in before:
        assert after[run.info.run_id].info.status == "KILLED"
        assert after[run.info.run_id].data.tags["error"].startswith("found orphaned")
