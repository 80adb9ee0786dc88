"""Tests that prove what the README promises: its function table, its signal handling."""

import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sympy as sp
import torch
import yaml

from gdsweep.core import theory
from gdsweep.objectives import functions
from tests.conftest import all_runs, embedded_client, wait_for_store
from tests.test_faults import wait_for_logged_steps

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf" / "function"


def readme_functions() -> dict[str, list[str]]:
    """The README's function table: name -> its cells."""
    rows = {}
    for line in (REPO / "README.md").read_text().splitlines():
        match = re.match(r"\| `(\w+)` \|", line)
        if match and line.count("|") >= 9:
            rows[match.group(1)] = [cell.strip() for cell in line.strip().strip("|").split("|")]
    return rows


def named(name):
    config = yaml.safe_load((CONF / f"{name}.yaml").read_text())
    x0 = config["x0"] if isinstance(config["x0"], list) else [config["x0"]]
    return functions.build(config, len(x0))


def numbers(cell: str) -> list[tuple[float, float]]:
    """One number per ';'-separated part, the last one written in it (2 + 40π² = 396.784 -> 396.784),
    with half a unit of its last digit: the precision the README states it to."""
    found = []
    for part in cell.split(";"):
        values = re.findall(r"-?\d+(?:\.\d+)?", part.replace("−", "-"))
        text = values[-1] if values else "nan"
        digits = len(text.split(".")[1]) if "." in text else 0
        found.append((float(text), 0.5 * 10**-digits * (1 + 1e-9)))
    return found


def assert_as_written(computed: list[float], written: list[tuple[float, float]]) -> None:
    assert len(computed) == len(written)
    for value, (number, tolerance) in zip(computed, written):
        assert abs(value - number) <= tolerance, (value, number)


NAMED = sorted(p.stem for p in CONF.glob("*.yaml") if p.stem != "expr" and p.stem not in functions.MODELS)  # models: test_models


@pytest.mark.parametrize("name", NAMED)
def test_readme_lambda_max_and_critical_lr_hold_for_every_row(name):
    cells = readme_functions()[name]
    function = named(name)
    computed = [theory.sharpness(function.f, torch.tensor(m, dtype=torch.float64)) for m in function.minimizers]
    if "kink" in cells[6]:
        assert all(math.isnan(top) for top in computed) and cells[7] == "none"
        return
    assert_as_written(computed, numbers(cells[6].replace("2a", "2").replace("max λ_i = ", "")))
    if cells[7].startswith("none"):
        assert computed == [0.0]
    else:
        assert_as_written([2 / top for top in computed], numbers(cells[7].replace("1/a", "1")))


def test_every_row_of_the_readme_table_is_a_function():
    assert set(readme_functions()) == {*NAMED, "expr"}


def test_double_well_and_styblinski_tang_minima_match_independent_values():
    x = sp.symbols("x")
    # double well: the global minimiser is the smallest real root of f'(x) = 4x³ − 6x + 1
    roots = sorted(float(r) for r in sp.Poly(4 * x**3 - 6 * x + 1).nroots(n=30) if abs(sp.im(r)) < 1e-20)
    well = named("double_well")
    assert well.minimizers[0][0] == pytest.approx(roots[0], abs=1e-12)
    assert well.minimum == pytest.approx(float((x**4 - 3 * x**2 + x).subs(x, roots[0])), abs=1e-12)
    assert well.minimum == pytest.approx(-3.51391, abs=1e-5)  # the README's value
    # Styblinski–Tang: x_i = −2.903534 and f* = −39.16617·d (Surjanovic & Bingham's table)
    tang = named("styblinski_tang")
    assert tang.minimizers[0] == pytest.approx((-2.903534, -2.903534), abs=1e-6)
    assert tang.minimum == pytest.approx(-39.16617 * 2, abs=1e-4)
    root = min(float(r) for r in sp.Poly(4 * x**3 - 32 * x + 5).nroots(n=30) if abs(sp.im(r)) < 1e-20)
    assert tang.minimizers[0][0] == pytest.approx(root, abs=1e-12)


@pytest.mark.parametrize("name", NAMED)
def test_the_gradient_vanishes_at_every_listed_minimiser(name):
    function = named(name)
    for minimiser in function.minimizers:
        point = torch.tensor(minimiser, dtype=torch.float64, requires_grad=True)
        value = function.f(point.unsqueeze(0)).sum()
        value.backward()
        if name == "ackley":  # a kink: no gradient, but every nearby point is higher
            nearby = point.detach() + 1e-3 * torch.eye(len(minimiser), dtype=torch.float64)
            assert (function.f(torch.cat([nearby, 2 * point.detach() - nearby])).reshape(-1) > value).all()
            continue
        assert torch.linalg.vector_norm(point.grad).item() < 1e-4, minimiser  # listed to 6 or 7 digits
        assert value.item() == pytest.approx(function.minimum, abs=1e-6)


def start(tmp_path, *arguments):
    environment = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return subprocess.Popen(
        [sys.executable, "-m", "gdsweep", *arguments, "device=cpu"],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_a_run(tmp_path, process, timeout=120):
    query = "SELECT COUNT(*) FROM runs WHERE status = 'RUNNING'"
    wait_for_store(tmp_path, process, query, 1, "no run started", timeout)


def test_a_second_signal_does_not_wait_for_the_chunk(tmp_path):
    # a chunk of 300 000 steps takes many seconds: the first Ctrl-C waits for it, the second does not
    process = start(tmp_path, "N=50000000", "tracking.chunk_steps=300000")
    try:
        wait_for_a_run(tmp_path, process)
        time.sleep(1.0)
        process.send_signal(signal.SIGINT)
        time.sleep(1.0)
        assert process.poll() is None  # the first signal is held until the chunk is logged
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130 and "Traceback" not in stderr, stderr
    client = embedded_client(tmp_path)
    [run] = all_runs(client)
    assert run.info.status == "KILLED" and run.data.tags["error"] == "stopped by SIGINT"
    assert client.get_metric_history(run.info.run_id, "cost") == []  # it did not finish the chunk


def test_a_sweep_stopped_by_a_signal_ends_its_parent_killed(tmp_path):
    process = start(tmp_path, "N=50000000", "tracking.chunk_steps=500", "lr=0.1,0.2", "--multirun")
    try:
        wait_for_logged_steps(tmp_path, 501, process)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 143, stderr
    runs = all_runs(embedded_client(tmp_path))
    [parent] = [r for r in runs if r.data.tags.get("gdsweep.role") == "sweep"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert parent.info.status == "KILLED"
    assert [c.info.status for c in children] == ["KILLED"]  # the second job never started
    assert children[0].data.tags["error"].startswith("stopped by SIGTERM after step")


def test_an_unexpected_exception_in_a_sweep_job_fails_it_and_the_sweep_goes_on(tmp_path):
    # a real fault: while job 0 computes, a file takes the place of its artifact folder, so
    # logging its config at the end raises (an OSError, not a bad input)
    process = start(tmp_path, "N=30000", "tracking.chunk_steps=1000", "lr=0.0001,0.1", "--multirun")
    try:
        wait_for_logged_steps(tmp_path, 1001, process)
        [job] = [r for r in all_runs(embedded_client(tmp_path)) if "mlflow.parentRunId" in r.data.tags]
        blocked = tmp_path / "outputs" / "artifacts" / "gdsweep" / job.info.run_id
        blocked.parent.mkdir(parents=True, exist_ok=True)
        blocked.write_text("in the way")
        _, stderr = process.communicate(timeout=600)
    finally:
        process.kill()
    assert process.returncode == 1, stderr
    runs = all_runs(embedded_client(tmp_path))
    by_lr = {r.data.params.get("lr"): r for r in runs if "mlflow.parentRunId" in r.data.tags}
    assert by_lr["0.0001"].info.status == "FAILED" and by_lr["0.0001"].data.tags["error"]
    assert by_lr["0.1"].info.status == "FINISHED"  # the other job still ran
    [parent] = [r for r in runs if r.data.tags.get("gdsweep.role") == "sweep"]
    assert parent.info.status == "FAILED"
    assert "lr=0.0001" in stderr  # Hydra names the job that failed
