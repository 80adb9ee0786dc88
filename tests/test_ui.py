"""The MLflow UI comparison: regime colours on the runs, and `python -m gdsweep.ui` opening a real sweep's
chart view in a real MLflow server, checked in a real Chromium (Debian's package, driven by Playwright)."""

from __future__ import annotations

import colorsys
import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from mlflow.tracking import MlflowClient

from gdsweep.report import palette, plots

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
# On x² (2/λmax = 1): nine converging lrs, one oscillating, two diverging; twelve runs, more than the
# 10 that MLflow's charts draw unless told to show all.
LRS = {lr: "converging" for lr in ("0.02", "0.05", "0.1", "0.15", "0.2", "0.25", "0.3", "0.4", "0.6")}
LRS |= {"1.0": "oscillating", "1.05": "diverging", "1.1": "diverging"}
FAMILIES = {"converging": 120.0, "oscillating": 30.0, "diverging": 0.0}  # hue in degrees: green, orange, red
COLOR_TAG = "mlflow.runColor"  # MLflow's run colour in every chart and table
DRAWN_IN = """wanted => {
    const drawn = new Set([...document.querySelectorAll('path.js-line')].map(p => p.style.stroke));
    return wanted.every(colour => drawn.has(colour));
}"""  # Plotly's line paths, by stroke colour
SCREENSHOT = os.environ.get("GDSWEEP_UI_SCREENSHOT")  # where to save the chart view (README: docs/ui_chart.png)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "HYDRA_FULL_ERROR")}


def _gdsweep(module: str, *args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", module, *args]
    return subprocess.run(command, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> SimpleNamespace:
    """A real sweep on x² with two converging lrs, one oscillating, one diverging; and a plain run after it."""
    folder = tmp_path_factory.mktemp("ui")
    done = _gdsweep("gdsweep", f"lr={','.join(LRS)}", "N=12", "--multirun", cwd=folder)
    assert done.returncode == 0, done.stderr[-3000:]
    plain = _gdsweep("gdsweep", "N=3", cwd=folder)
    assert plain.returncode == 0, plain.stderr[-3000:]
    client = MlflowClient(tracking_uri=f"sqlite:///{folder / 'outputs' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("gdsweep").experiment_id
    [parent] = client.search_runs([experiment], "tags.`gdsweep.role` = 'sweep'")
    children = client.search_runs([experiment], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    [single] = client.search_runs([experiment], "attributes.run_name = 'N=3'")
    return SimpleNamespace(
        folder=folder, stdout=done.stdout, plain_stdout=plain.stdout, parent=parent, children=children, single=single
    )


def _hls(hex_color: str) -> tuple[float, float, float]:
    return colorsys.rgb_to_hls(*(int(hex_color[i : i + 2], 16) / 255 for i in (1, 3, 5)))


def _lightness(hex_color: str) -> float:
    return _hls(hex_color)[1]


def _in_family(hex_color: str, regime: str) -> bool:
    """A saturated #rrggbb whose hue is nearer its regime's (green, orange, red) than any other's."""
    if not re.fullmatch(r"#[0-9a-f]{6}", hex_color) or _hls(hex_color)[2] < 0.3:
        return False
    hue = _hls(hex_color)[0] * 360
    distance = {name: min(abs(hue - h), 360 - abs(hue - h)) for name, h in FAMILIES.items()}
    return min(distance, key=distance.get) == regime


def test_regime_colours_are_green_orange_red_and_lighter_for_smaller_lrs():
    runs = [("a", "converging", 0.01), ("b", "converging", 0.1), ("c", "converging", 0.5), ("d", "oscillating", 1.0)]
    runs += [("e", "diverging", 1.5), ("f", "diverging", 1.1), ("g", None, 0.3)]
    got = palette.colors(runs)
    assert all(_in_family(got[key], regime) for key, regime, _ in runs if regime)
    assert _lightness(got["a"]) > _lightness(got["b"]) > _lightness(got["c"])  # smaller lr, lighter shade
    assert _lightness(got["f"]) > _lightness(got["e"])  # ranked by lr, not by the order given
    assert got["d"] == palette.BASE["oscillating"]  # alone in its regime: the plain colour
    assert got["g"] == palette.OTHER  # no regime (a failed run): grey
    assert len({got[key] for key in "abcdef"}) == 6


def test_every_run_gets_its_regime_colour_in_mlflow_the_same_the_report_draws(sweep):
    tags = {run.data.params["lr"]: run.data.tags for run in sweep.children}
    assert {lr: t["regime"] for lr, t in tags.items()} == LRS
    colours = {lr: t[COLOR_TAG] for lr, t in tags.items()}
    assert all(_in_family(colours[lr], regime) for lr, regime in LRS.items())
    assert colours["0.05"] != colours["0.1"] and _lightness(colours["0.05"]) > _lightness(colours["0.1"])
    assert sweep.single.data.tags[COLOR_TAG] == palette.BASE["converging"]  # a plain run: its regime's colour
    drawn = [plots.run_data(float(lr), t["regime"], None, [(0, 1.0), (1, 0.5)], []) for lr, t in tags.items()]
    figure = plots.cost_curves(drawn)
    lines = {line.get_gid(): line.get_color() for line in figure.axes[0].get_lines()}
    curves = {gid: colour for gid, colour in lines.items() if gid.startswith("lr=")}  # not the exit marks
    assert {f"lr={float(lr)!r}": colour for lr, colour in colours.items()} == curves


def test_the_end_of_a_sweep_and_of_a_run_prints_the_ui_command_next_to_mlflow_ui(sweep):
    assert re.search(r"python -m gdsweep\.ui outputs/sweeps/\S+\n", sweep.stdout), sweep.stdout[-800:]
    assert "mlflow ui --backend-store-uri sqlite:///outputs/mlflow.db" in sweep.stdout
    assert f"python -m gdsweep.ui {sweep.single.info.run_id}\n" in sweep.plain_stdout
    assert "mlflow ui --backend-store-uri sqlite:///outputs/mlflow.db" in sweep.plain_stdout


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_ui(folder: Path, port: int) -> tuple[subprocess.Popen, list[str]]:
    """`python -m gdsweep.ui --port P --no-browser`, read until it has printed its two URLs."""
    command = [sys.executable, "-m", "gdsweep.ui", "--port", str(port), "--no-browser"]
    ui = subprocess.Popen(command, cwd=folder, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    printed = []
    while len([line for line in printed if line.startswith("  http")]) < 2:
        line = ui.stdout.readline()
        assert line, f"gdsweep.ui ended before printing its URLs: {ui.wait(30)} {ui.stderr.read()[-2000:]}"
        printed.append(line.rstrip("\n"))
    return ui, printed


def _group_alive(pgid: int) -> bool:
    """Does any live (not zombie) process of this process group remain? Read from /proc."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError):
            continue
        if int(group) == pgid and state != "Z":
            return True
    return False


@pytest.mark.slow
def test_the_printed_url_shows_every_child_run_and_the_cost_chart_in_chromium(sweep):
    if not CHROMIUM.exists():
        pytest.skip(f"chromium is not installed ({CHROMIUM}); .ci/run installs it with apt-get install chromium")
    from playwright import sync_api  # the [test] extra's; only the browser may be missing

    port = _free_port()
    ui, printed = _start_ui(sweep.folder, port)
    try:
        [server_pid] = [int(m) for m in re.findall(r"\(pid (\d+)\)", printed[0])]
        chart_url, compare_url = [line.strip() for line in printed if line.startswith("  http")]
        assert chart_url.startswith(f"http://127.0.0.1:{port}/#/experiments/")
        assert "viewStateShareKey=" in chart_url  # the sweep's shared view: every child drawn, not the first 10
        names = [run.info.run_name for run in sweep.children]
        colours = [run.data.tags[COLOR_TAG] for run in sweep.children]
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 760})
            page.goto(chart_url)
            for name in names:  # every child run is a row: nothing to expand
                page.get_by_text(name, exact=True).first.wait_for(timeout=90_000)
            page.get_by_text("cost", exact=True).first.wait_for(timeout=90_000)
            # The charts draw every run (all 12, not MLflow's first 10), each in its regime colour.
            wanted = [f"rgb({int(c[1:3], 16)}, {int(c[3:5], 16)}, {int(c[5:7], 16)})" for c in colours]
            try:
                page.wait_for_function(DRAWN_IN, arg=wanted, timeout=90_000)
            except sync_api.TimeoutError:
                strokes = page.evaluate("() => [...document.querySelectorAll('path.js-line')].map(p => p.style.stroke)")
                pytest.fail(f"lines drawn in {sorted(set(strokes))}, wanted every one of {sorted(wanted)}")
            assert "Model training" in page.inner_text("body")
            _screenshot(page)
            page.goto(compare_url)
            page.get_by_text(f"Comparing {len(names)} Runs", exact=False).first.wait_for(timeout=90_000)
            body = page.inner_text("body")
            assert all(name in body for name in names)
            # A tracking server: the same command starts nothing and prints the URLs on that server.
            served = f"http://127.0.0.1:{port}"
            remote = _gdsweep("gdsweep.ui", sweep.single.info.run_id, "--tracking-uri", served, "--no-browser", cwd="/")
            assert remote.returncode == 0, remote.stderr
            assert "pid" not in remote.stdout and "Ctrl-C" not in remote.stdout
            [single_url] = [line.strip() for line in remote.stdout.splitlines() if line.startswith(f"  {served}/#/ex")]
            page.goto(single_url)
            page.get_by_text(sweep.single.info.run_name, exact=True).first.wait_for(timeout=90_000)
            browser.close()
    finally:
        ui.send_signal(signal.SIGINT)  # Ctrl-C
        code = ui.wait(timeout=90)
    assert code == 0, ui.stderr.read()[-2000:]
    assert not _group_alive(server_pid), "the MLflow server gdsweep.ui started is still running"


def _screenshot(page) -> None:
    """The chart view as the README shows it (the assistant panel closed, so the charts have the room)."""
    close = page.get_by_role("button", name="Close")
    if close.count():
        close.first.click()
        page.wait_for_timeout(1500)
    if SCREENSHOT:
        from PIL import Image  # matplotlib's dependency

        page.screenshot(path=SCREENSHOT)
        shot = Image.open(SCREENSHOT).convert("RGB")  # 96 colours: a third of the bytes, no visible change
        shot.quantize(colors=96, method=Image.Quantize.MEDIANCUT).save(SCREENSHOT, optimize=True)


@pytest.mark.parametrize(
    "args, in_empty_folder, message",
    [
        (["0123456789abcdef0123456789abcdef"], False, "no run 0123456789abcdef0123456789abcdef in sqlite:///"),
        (["nope"], False, "no experiment 'nope' in sqlite:///"),
        (["outputs"], False, "outputs is not a sweep folder (it has no mlflow_sweep.json)"),
        ([], True, "no MLflow store at "),
        (["--port", "0"], False, "--port: 0 is not a port"),
    ],
    ids=["unknown-run", "unknown-experiment", "not-a-sweep-folder", "missing-store", "bad-port"],
)
def test_bad_targets_get_one_line_and_exit_2(sweep, tmp_path, args, in_empty_folder, message):
    done = _gdsweep("gdsweep.ui", *args, "--no-browser", cwd=tmp_path if in_empty_folder else sweep.folder)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("gdsweep.ui: error: ") and message in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not done.stdout


def test_a_port_in_use_gets_one_line_and_starts_no_server(sweep):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _gdsweep("gdsweep.ui", "--port", str(port), "--no-browser", cwd=sweep.folder)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"gdsweep.ui: error: --port: 127.0.0.1:{port} is in use (Address already in use); pick another with --port P"
    )
    assert not done.stdout


def test_help_names_every_option_without_importing_mlflow(tmp_path):
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "gdsweep.ui", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert all(option in done.stdout for option in ("--port", "--host", "--tracking-uri", "--no-browser", "target"))
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "mlflow" not in imported and "torch" not in imported


def test_a_failed_job_is_grey_and_a_lone_regime_keeps_its_plain_colour(cli, tmp_path):
    done = cli("lr=0.1,abc", "N=3", "--multirun")
    assert done.returncode == 1  # the bad lr failed its job; the sweep still ended and tagged its runs
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("gdsweep").experiment_id])
    runs = [run for run in runs if "mlflow.parentRunId" in run.data.tags]  # the jobs, not the sweep
    colours = {run.data.params["lr"]: (run.info.status, run.data.tags.get(COLOR_TAG)) for run in runs}
    assert colours == {"0.1": ("FINISHED", palette.BASE["converging"]), "abc": ("FAILED", palette.OTHER)}


def test_every_kind_of_target_finds_its_sweep_or_run(sweep, monkeypatch):
    from gdsweep.tracking import ui_target

    monkeypatch.chdir(sweep.folder)
    uri = f"sqlite:///{sweep.folder / 'outputs' / 'mlflow.db'}"
    parent, [sweep_dir] = sweep.parent.info.run_id, list((sweep.folder / "outputs" / "sweeps").iterdir())
    by_lr = [run.info.run_id for run in sorted(sweep.children, key=lambda run: float(run.data.params["lr"]))]
    for target in (None, str(sweep_dir), "outputs/sweeps/" + sweep_dir.name, parent, by_lr[3], "gdsweep"):
        found = ui_target.find(target, uri)
        assert (found.parent_run_id, found.run_ids, found.name) == (parent, tuple(by_lr), sweep.parent.info.run_name)
    single = ui_target.find(sweep.single.info.run_id, uri)
    assert (single.parent_run_id, single.run_ids) == (None, (sweep.single.info.run_id,))
    assert ui_target.save_view(single).view is None  # one run needs no saved view
    saved = ui_target.save_view(found)
    state = MlflowClient(uri).get_experiment(found.experiment_id).tags[f"mlflow.sharedViewState.{saved.view}"]
    view = json.loads(state)
    assert view["searchFilter"] == f"tags.mlflow.parentRunId = '{parent}'" and view["runsHiddenMode"] == "SHOW_ALL"
    charts = {chart["metricKey"]: (chart["type"], chart.get("scaleType")) for chart in view["compareRunCharts"]}
    assert view["compareRunCharts"][0]["metricKey"] == "cost" and charts["cost"] == ("LINE", "log")
    assert charts["grad_norm"] == ("LINE", "linear") and charts["final_cost"] == ("BAR", None)


def test_a_thinned_sweep_points_at_the_table_that_holds_every_step(cli, tmp_path, capsys, monkeypatch):
    """MLflow's charts draw the histories; when those keep only a spread of the steps the UI command
    says so and links the run's table artifact, which holds every step."""
    from gdsweep.jobs import ui
    from gdsweep.tracking import table_writer, ui_target
    from gdsweep.tracking.store import Store

    done = cli("lr=0.1,1.05", "N=60", "tracking.max_points=20", "--multirun")
    assert done.returncode == 0, done.stderr
    monkeypatch.chdir(tmp_path)
    [sweep_dir] = list((tmp_path / "outputs" / "sweeps").iterdir())
    target = ui_target.find(str(sweep_dir), f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")
    assert sorted(target.thinned) == sorted(target.run_ids) and len(target.run_ids) == 2
    client, store = MlflowClient(target.uri), Store(target.uri, target.experiment_id)
    for run_id in target.thinned:
        assert len(client.get_metric_history(run_id, "cost")) <= 20
        assert table_writer.read_trajectory(store, run_id)["step"].tolist() == list(range(61))  # every step
    ui._announce(target, "http://127.0.0.1:5999", None)
    shown = capsys.readouterr().out
    link = f"http://127.0.0.1:5999/#/experiments/{target.experiment_id}/runs/{target.thinned[0]}/artifacts/"
    assert "The charts of 2 of 2 runs show a spread of their steps" in shown
    assert link + table_writer.ARTIFACT in shown


def test_a_sweep_with_every_step_in_its_charts_says_nothing_of_tables(sweep, capsys, monkeypatch):
    from gdsweep.jobs import ui
    from gdsweep.tracking import ui_target

    monkeypatch.chdir(sweep.folder)
    target = ui_target.find(sweep.parent.info.run_id, f"sqlite:///{sweep.folder / 'outputs' / 'mlflow.db'}")
    assert target.thinned == ()
    ui._announce(target, "http://127.0.0.1:5999", None)
    assert "spread of their steps" not in capsys.readouterr().out
