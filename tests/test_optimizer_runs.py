"""Optimizers end to end: the config group, runs and sweeps in MLflow, scans, the stability map, presets."""

import csv
import itertools
from pathlib import Path

import pytest

from gdsweep.config import scan_spec, validate
from gdsweep.errors import GdsweepError
from gdsweep.jobs.runner import execute
from gdsweep.jobs.scan_job import execute_scan
from tests.conftest import all_runs, embedded_client


@pytest.mark.parametrize(
    "overrides,message",
    [
        (
            ["optimizer=momentum", "optimizer.momentum=1"],
            "optimizer.momentum: 1 is not in [0, 1); give e.g. optimizer.momentum=0.9",
        ),
        (["optimizer=nesterov", "optimizer.momentum=-0.1"], "optimizer.momentum: -0.1 is not in [0, 1)"),
        (["optimizer=momentum", "optimizer.momentum=abc"], "optimizer.momentum: 'abc' is not in [0, 1)"),
        (["optimizer=adam", "optimizer.betas=[0.9,1.0]"], "optimizer.betas: 1.0 is not in [0, 1)"),
        (["optimizer=adam", "optimizer.betas=[0.9]"], "optimizer.betas: [0.9] is not a pair"),
        (["optimizer=adam", "optimizer.eps=0"], "optimizer.eps: 0 is not a positive number"),
        (["optimizer=gd", "optimizer.name=sgd"], "optimizer: no optimizer named 'sgd'"),
    ],
)
def test_bad_optimizer_settings_get_one_line_naming_the_key(make_config, overrides, message):
    with pytest.raises(GdsweepError) as caught:
        validate(make_config(*overrides))
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_a_momentum_axis_needs_a_momentum_optimizer(make_config):
    with pytest.raises(GdsweepError, match=r"^scan.momenta: optimizer=gd has no momentum axis; add optimizer=momentum"):
        scan_spec(make_config("scan=dense", "scan.momenta=[0,0.5]"))
    with pytest.raises(GdsweepError, match=r"^scan.momenta: 1.2 is not in \[0, 1\)"):
        scan_spec(make_config("scan=dense", "optimizer=momentum", "scan.momenta=[0,1.2]"))
    spec = scan_spec(make_config("scan=dense", "optimizer=nesterov", "scan.momenta={min:0,max:0.9,num:4}"))
    assert spec.momenta == pytest.approx((0.0, 0.3, 0.6, 0.9))


def test_bad_momentum_on_the_command_line_is_one_line_exit_2(cli, tmp_path):
    result = cli("optimizer=momentum", "optimizer.momentum=1.5")
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        "gdsweep: error: optimizer.momentum: 1.5 is not in [0, 1); give e.g. optimizer.momentum=0.9"
    ]
    unknown = cli("optimizer=sgd,adam", "--multirun")  # Hydra would print its search path
    assert unknown.returncode == 2 and unknown.stderr.strip().splitlines() == [
        "gdsweep: error: optimizer: no optimizer named 'sgd'; use optimizer=NAME, one of: adam, gd, momentum, nesterov"
    ]
    assert not (tmp_path / "outputs" / "mlflow.db").exists()


def histories(client, run_id):
    return {key: [(p.step, p.value) for p in client.get_metric_history(run_id, key)] for key in ("cost", "x")}


@pytest.mark.parametrize("name", ["momentum", "adam"])
def test_a_run_logged_in_chunks_is_bitwise_the_run_in_one_piece(make_config, tmp_path, name):
    client = embedded_client(tmp_path)
    whole = execute(make_config(f"optimizer={name}", "lr=0.3", "N=60", "dtype=float64"))
    pieces = execute(make_config(f"optimizer={name}", "lr=0.3", "N=60", "dtype=float64", "tracking.chunk_steps=7"))
    assert histories(client, whole.run_id) == histories(client, pieces.run_id)
    run = client.get_run(pieces.run_id)
    assert run.data.params["optimizer.name"] == name and pieces.row.optimizer == name


def test_momentum_run_logs_its_own_edge_and_a_spiral(make_config, tmp_path):
    outcome = execute(make_config("optimizer=momentum", "lr=0.5"))  # the article's N = 9 on x², β = 0.9
    run = embedded_client(tmp_path).get_run(outcome.run_id)
    assert run.data.tags["regime"] == "converging" and run.data.tags["path"] == "spiral"
    assert run.data.metrics["critical_lr"] == pytest.approx(1.9) and run.data.tags["predicted_regime"] == "spiral"


def test_mixed_optimizer_sweep_groups_the_table_by_optimizer(cli, tmp_path):
    result = cli("optimizer=gd,momentum", "lr=0.5,1.5,1.95", "--multirun")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "optimizer=gd\n" in out and "optimizer=momentum\n" in out
    gd, momentum = out.split("optimizer=gd\n")[1].split("optimizer=momentum\n")
    rows = {line.split()[0]: line for line in momentum.splitlines() if line.split() and line.split()[0][0].isdigit()}
    assert "converging spiral" in rows["0.5"] and "converging" in rows["1.5"] and "diverging" in rows["1.95"]
    assert all(" 1.9 " in rows[lr] for lr in rows)  # critical_lr = 2(1+β)/λmax
    assert "diverging" in gd and " 1 " in gd  # gd: 2/λmax = 1, so 1.5 and 1.95 diverge
    children = [r for r in all_runs(embedded_client(tmp_path)) if "mlflow.parentRunId" in r.data.tags]
    assert sorted(c.data.params["optimizer.name"] for c in children) == ["gd"] * 3 + ["momentum"] * 3


def test_stability_map_is_one_batched_run_with_the_edge_per_momentum(make_config, tmp_path):
    cfg = make_config(
        "scan=dense",
        "optimizer=momentum",
        "scan.momenta=[0,0.5,0.9]",
        "scan.num=80",
        "N=300",
        "scan.lr_min=0.5",
        "scan.lr_max=2.5",
        "scan.spacing=linear",
        "dtype=float64",
    )
    execute_scan(cfg, ["scan=dense"])
    client = embedded_client(tmp_path)
    [run] = all_runs(client)  # 240 (lr, β) pairs, one MLflow run
    assert {a.path for a in client.list_artifacts(run.info.run_id, "scan")} == {
        "scan/scan.csv",
        "scan/stability_map.csv",
        "scan/stability_map.png",
    }
    with Path(client.download_artifacts(run.info.run_id, "scan/stability_map.csv")).open() as handle:
        table = list(csv.DictReader(handle))
    spacing = 2.0 / 79
    for row, edge in zip(table, [1.0, 1.5, 1.9]):  # 2(1+β)/λmax with λmax = 2
        assert float(row["theory_edge_lr"]) == pytest.approx(edge)
        assert edge - spacing <= float(row["stable_lr_max"]) <= edge
    with Path(client.download_artifacts(run.info.run_id, "scan/scan.csv")).open() as handle:
        assert len(list(csv.DictReader(handle))) == 240
    assert run.data.metrics["n_converging"] + run.data.metrics["n_diverging"] + run.data.metrics["n_oscillating"] == 240


@pytest.mark.parametrize("name,edge", [("momentum", 1.9), ("nesterov", 0.678571)])
def test_edge_search_reports_the_ratio_to_the_optimizers_own_edge(make_config, name, edge):
    cfg = make_config("scan=edge", f"optimizer={name}", "scan.lr_max=3", "scan.lr_min=1e-4", "dtype=float64", "N=600")
    metrics = execute_scan(cfg).metrics
    assert metrics["critical_lr"] == pytest.approx(edge, rel=1e-6)
    assert metrics["edge_over_critical"] == pytest.approx(1.0, abs=2e-3)
    assert "zigzag_over_theory" not in metrics  # the 1/λmax zigzag onset is gradient descent's alone


def test_presets_run_briefly(cli, tmp_path):
    sweep = cli("+experiment=momentum_sweep", "N=30")
    assert sweep.returncode == 0, sweep.stderr
    assert sweep.stdout.count("momentum") >= 3 and "spiral" in sweep.stdout
    scan = cli("+experiment=momentum_map", "N=200", "scan.num=40", "scan.momenta={min:0,max:0.9,num:4}", "scan.tail=64")
    assert scan.returncode == 0, scan.stderr
    assert "40 lrs from 0.01 to 5 (log) × 4 momenta = 160 runs" in scan.stdout


def test_adam_logs_its_preconditioned_sharpness_next_to_its_edge(make_config, tmp_path):
    # In 1-D, P⁻¹H = 2/P at x², with P = √v̂ + eps: the sharpness grows as v̂ forgets early gradients.
    outcome = execute(make_config("+experiment=adam_edge", "N=600", "track_sharpness_every=100"))
    client = embedded_client(tmp_path)
    run = client.get_run(outcome.run_id)
    assert run.data.metrics["preconditioned_edge"] == pytest.approx(38.0)  # (2 + 2·0.9)/((1 − 0.9)·1)
    history = [
        p.value
        for p in sorted(client.get_metric_history(outcome.run_id, "preconditioned_sharpness"), key=lambda p: p.step)
    ]
    assert len(history) == 6 and history[0] == pytest.approx(2 / 8, rel=1e-6)  # step 0: √v̂ = |g| = 8
    assert all(b > a for a, b in itertools.pairwise(history))


def test_an_adam_run_reproduces_bitwise_from_mlflow(make_config, tmp_path):
    from gdsweep.reproduce import reproduce

    overrides = ["optimizer=adam", "optimizer.betas=[0.8,0.99]", "lr=0.2", "N=120", "tracking.chunk_steps=50"]
    source = execute(make_config(*overrides), overrides=overrides)
    result = reproduce(source.uri, source.run_id)
    assert result.identical, result.first_difference
    copy = embedded_client(tmp_path).get_run(result.run_id)
    assert copy.data.params["optimizer.betas"] == "[0.8, 0.99]"
