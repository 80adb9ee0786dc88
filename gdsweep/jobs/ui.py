"""Open a sweep's comparison in MLflow's own UI: one command, one URL, no clicks.

    python -m gdsweep.ui [SWEEP_DIR | RUN_ID | EXPERIMENT] [--port P] [--host H] [--tracking-uri URI] [--no-browser]

For a local store (SQLite, or any database URI) it starts `python -m mlflow server` on it as a
child process, on loopback by default, waits until the server answers, prints the URL of the
sweep's chart view and of MLflow's compare page, opens a browser, and serves until Ctrl-C or
SIGTERM; then it stops the server it started (its process group, by PID) and nothing else. For an
http(s) tracking URI it starts nothing and prints the URLs on that server.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import webbrowser
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

PROG = "python -m gdsweep.ui"
DEFAULT_PORT = 5000  # MLflow's own default
START_TIMEOUT = 120.0  # seconds for a fresh MLflow server to answer /health (it imports for ≈5 s on 2 cores)
STOP_TIMEOUT = 15.0


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    from gdsweep import tracking  # MLflow: after --help
    from gdsweep.errors import GdsweepError
    from gdsweep.tracking import ui_target

    try:
        target = ui_target.find(args.target, tracking.resolve_uri(args.tracking_uri, "outputs"))
    except (LookupError, GdsweepError) as err:
        _fail(str(err))
    if target.uri.startswith(("http://", "https://")):
        target = ui_target.save_view(target)
        _announce(target, target.uri, None)
        _open(_urls(target, target.uri)[0], args.no_browser)
        return
    _serve(target, args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument(
        "target",
        nargs="?",
        help="a sweep folder, a run id (a sweep's parent or child, or a plain run) or an experiment name "
        "(its latest sweep); default: the latest sweep in the store",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port of the MLflow server (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address it listens on (default 127.0.0.1: this machine only)"
    )
    parser.add_argument("--tracking-uri", help="default: $MLFLOW_TRACKING_URI, else sqlite:///outputs/mlflow.db")
    parser.add_argument("--no-browser", action="store_true", help="print the URLs, do not open a browser")
    return parser


def _serve(target, args: argparse.Namespace) -> None:
    """Start MLflow's server on the store, print the URLs, serve until a signal, stop the server."""
    if not 0 < args.port < 65536:
        _fail(f"--port: {args.port} is not a port; give one from 1 to 65535")
    _require_free(args.host, args.port)
    from gdsweep.tracking import ui_target

    target = ui_target.save_view(target)
    address = f"[{args.host}]" if ":" in args.host else args.host
    base = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else address}:{args.port}"
    stopping = _on_signals()  # before the server exists: a signal now still stops it
    server = None
    with tempfile.TemporaryDirectory(prefix="gdsweep-ui-") as scratch:
        log_path = Path(scratch) / "mlflow-server.log"
        try:
            with open(log_path, "w") as log:
                server = subprocess.Popen(
                    _server_command(target.uri, args.host, args.port),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # its own process group: Ctrl-C reaches us, and we stop all of it
                )
            _wait_until_up(server, base, log_path)
            _announce(target, base, server.pid)
            _open(_urls(target, base)[0], args.no_browser)
            code = server.wait()
            _fail(f"the MLflow server stopped by itself (exit {code}): {_tail(log_path)}", 1)
        except KeyboardInterrupt:
            if server is not None:
                print(f"gdsweep.ui: stopping the MLflow server (pid {server.pid})", file=sys.stderr, flush=True)
        finally:
            if server is not None:
                _stop(server)
            stopping()


def _server_command(uri: str, host: str, port: int) -> list[str]:
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri]
    command += ["--host", host, "--port", str(port), "--workers", "1"]
    if uri.startswith("sqlite:///"):  # runs keep their own artifact location; this is for new experiments
        command += [
            "--default-artifact-root",
            (Path(uri.removeprefix("sqlite:///")).resolve().parent / "artifacts").as_uri(),
        ]
    return command


def _urls(target, base: str) -> tuple[str, str, int]:
    """The chart view of the sweep (or run), MLflow's compare page for its runs, and how many it compares."""
    from gdsweep.tracking import links

    if target.view:
        chart = links.shared_view_url(base, target.experiment_id, target.view)
    elif target.parent_run_id:
        chart = links.sweep_url(base, target.experiment_id, target.parent_run_id)
    else:
        chart = links.run_url(base, target.experiment_id, target.run_ids[0])
    compared = _spread(list(target.run_ids), links.COMPARE_LIMIT)
    return chart, links.compare_url(base, compared, [target.experiment_id]), len(compared)


def _announce(target, base: str, pid: int | None) -> None:
    from gdsweep.tracking import links

    chart, compare, compared = _urls(target, base)
    runs = len(target.run_ids)
    what = f"sweep '{target.name}' ({runs} runs)" if target.parent_run_id else f"run '{target.name}'"
    where = f"served by mlflow server (pid {pid}) at {base}" if pid else f"on the tracking server {base}"
    part = f" ({compared} of {runs} runs, spread over the lrs)" if compared < runs else ""
    lines = [
        f"MLflow UI for {what} in {links.shown_uri(target.uri)}, {where}",
        "Chart view, runs coloured by regime (cost per step and every other metric):",
        f"  {chart}",
        f"Compare page (parameters side by side, parallel coordinates){part}:",
        f"  {compare}",
    ]
    if target.thinned:  # MLflow's charts draw the histories: say where the steps between their points are
        from gdsweep.tracking.table_writer import ARTIFACT

        some = f"{len(target.thinned)} of {runs} runs" if runs > 1 else "the run"
        said = f"The charts of {some} show a spread of their steps (tracking.max_points); every step is in the"
        lines += [
            f"{said} run's table {ARTIFACT}, e.g.:",
            f"  {links.artifact_url(base, target.experiment_id, target.thinned[0], ARTIFACT)}",
        ]
    if pid:
        lines.append("Press Ctrl-C to stop the server.")
    print("\n".join(lines), flush=True)


def _open(url: str, no_browser: bool) -> None:
    if not no_browser:
        try:
            webbrowser.open(url)
        except webbrowser.Error:  # no browser on this machine: the printed URL is enough
            pass


def _require_free(host: str, port: int) -> None:
    """Fail with one line when something already listens on host:port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            _fail(f"--port: {host}:{port} is in use ({err.strerror}); pick another with --port P")


def _wait_until_up(server: subprocess.Popen, base: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if server.poll() is not None:
            _fail(f"the MLflow server did not start (exit {server.returncode}): {_tail(log_path)}", 1)
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            _fail(
                f"the MLflow server did not answer at {base}/health within {START_TIMEOUT:.0f} s: {_tail(log_path)}", 1
            )
        time.sleep(0.25)


def _stop(server: subprocess.Popen) -> None:
    """SIGTERM to the server's own process group (its PID), SIGKILL if it lingers; nothing else is touched."""
    for sent in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(server.pid, sent)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            server.poll()  # reap the leader, so that a dead group reads as gone
            if not _group_alive(server.pid):
                return
            time.sleep(0.1)


def _group_alive(pgid: int) -> bool:
    """Is any process of the group still running? Zombies (dead, waiting to be reaped by init) do not count."""
    if not Path("/proc/self/stat").is_file():  # not Linux: ask the kernel, zombies included
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError):
            continue  # it ended while we looked
        if int(group) == pgid and state != "Z":
            return True
    return False


def _on_signals():
    """SIGTERM and SIGHUP end the serving as Ctrl-C does; returns what puts the old handlers back."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    return lambda: [signal.signal(sig, handler) for sig, handler in previous.items()]


def _spread(items: list, count: int) -> list:
    """At most `count` items, evenly spread, first and last included."""
    if len(items) <= count:
        return items
    return [items[round(i * (len(items) - 1) / (count - 1))] for i in range(count)]


def _tail(log_path: Path, lines: int = 3) -> str:
    text = log_path.read_text(errors="replace").strip().splitlines() if log_path.exists() else []
    return " | ".join(text[-lines:]) or "no output"


def _fail(message: str, code: int = 2) -> NoReturn:
    print(f"gdsweep.ui: error: {message}", file=sys.stderr, flush=True)
    sys.exit(code)
