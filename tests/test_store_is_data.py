"""What a store holds is data, never an instruction: crafted runs in a real store steer nothing."""

import os
import subprocess
import sys
from pathlib import Path

import yaml

from gdsweep import tracking
from gdsweep.jobs.runner import execute
from tests.conftest import all_runs, embedded_client


def run_module(module, *arguments, cwd, env=None):
    environment = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", module, *arguments],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


def test_report_never_writes_where_a_stored_tag_points(make_config, tmp_path):
    overrides = ["lr=0.1", "N=5"]
    child = execute(make_config(*overrides), overrides=overrides)
    store = tracking.Store(child.uri, embedded_client(tmp_path).get_run(child.run_id).info.experiment_id)
    victim = tmp_path / "victim" / "home"  # whoever can tag a run would choose where files land
    parent = tracking.start_run(store, "crafted", {"gdsweep.role": "sweep", "gdsweep.sweep_dir": str(victim)})
    store.client.set_tag(child.run_id, "mlflow.parentRunId", parent)
    tracking.end_run(store, parent)
    work = tmp_path / "elsewhere"
    work.mkdir()
    for arguments, folder in [
        ([parent], work / "outputs" / "reports" / parent),
        (["gdsweep"], work / "outputs" / "reports" / parent),  # the experiment's latest sweep
        ([parent, "--out", str(tmp_path / "mine")], tmp_path / "mine"),
    ]:
        result = run_module("gdsweep.report", *arguments, "--tracking-uri", child.uri, cwd=work)
        assert result.returncode == 0, result.stderr
        assert (folder / "report.csv").is_file() and (folder / "cost_curves.png").is_file()
        assert not (tmp_path / "victim").exists()


def test_reproduce_refuses_a_stored_config_with_an_interpolation(make_config, tmp_path):
    overrides = ["lr=0.1", "N=5"]
    source = execute(make_config(*overrides), overrides=overrides)
    client = embedded_client(tmp_path)
    config = yaml.safe_load(
        Path(client.download_artifacts(source.run_id, "hydra/config.resolved.yaml", str(tmp_path))).read_text()
    )
    config["tracking"]["run_name"] = "${oc.env:GDSWEEP_TEST_SECRET}"  # would copy a secret into the new run
    crafted = tmp_path / "crafted" / "config.resolved.yaml"
    crafted.parent.mkdir()
    crafted.write_text(yaml.safe_dump(config))
    client.log_artifact(source.run_id, str(crafted), "hydra")
    before = len(all_runs(client))
    result = run_module(
        "gdsweep.reproduce",
        source.run_id,
        "--tracking-uri",
        source.uri,
        cwd=tmp_path,
        env={"GDSWEEP_TEST_SECRET": "hunter2"},
    )
    assert result.returncode != 0
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("gdsweep.reproduce: error: tracking.run_name: run ") and "interpolation" in line
    assert "hunter2" not in result.stderr + result.stdout
    runs = all_runs(client)
    assert len(runs) == before  # no new run, so no param or tag can hold the secret
    assert all("hunter2" not in str(r.data.params) + str(r.data.tags) for r in runs)


def test_reproduce_runs_on_this_machines_outputs_not_the_stored_ones(make_config, tmp_path):
    overrides = ["lr=0.1", "N=5"]
    source = execute(make_config(*overrides), overrides=overrides)
    client = embedded_client(tmp_path)
    config = yaml.safe_load(
        Path(client.download_artifacts(source.run_id, "hydra/config.resolved.yaml", str(tmp_path))).read_text()
    )
    config["outputs_dir"] = str(tmp_path / "victim")
    crafted = tmp_path / "crafted" / "config.resolved.yaml"
    crafted.parent.mkdir()
    crafted.write_text(yaml.safe_dump(config))
    client.log_artifact(source.run_id, str(crafted), "hydra")
    work = tmp_path / "work"
    work.mkdir()
    result = run_module("gdsweep.reproduce", source.run_id, "--tracking-uri", source.uri, cwd=work)
    assert result.returncode == 0 and "identical" in result.stdout, result.stderr
    assert not Path(tmp_path / "victim").exists()
