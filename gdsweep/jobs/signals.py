"""Ctrl-C and SIGTERM as a request to stop after the piece of work in hand is saved.

A run computes and logs its steps in chunks; a signal that arrives mid-chunk is remembered,
the chunk is finished and logged, and then `Stopped` ends the run (KILLED in MLflow, as a
KeyboardInterrupt would). A second signal does not wait.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

HANDLED = (signal.SIGINT, signal.SIGTERM)
received: list[int] = []  # every signal seen by `deferred` in this process, for whoever cleans up last


class Stopped(KeyboardInterrupt):
    """The run was asked to stop; what it computed so far is logged."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM


class StopRequest:
    """Set by the handler; read by the loop between chunks."""

    signum: int | None = None

    def check(self, what: str) -> None:
        """Raise Stopped if a signal came in; `what` says how far the work got."""
        if self.signum is not None:
            raise Stopped(self.signum, f"stopped by {signal.Signals(self.signum).name} {what}")


@contextmanager
def deferred() -> Iterator[StopRequest]:
    """Hold SIGINT/SIGTERM until the caller checks; outside the main thread, change nothing."""
    request = StopRequest()

    def handler(signum: int, frame: object) -> None:
        received.append(signum)
        if request.signum is not None:  # asked twice: stop now
            raise Stopped(signum, f"stopped by {signal.Signals(signum).name}")
        request.signum = signum

    try:
        previous = {signum: signal.signal(signum, handler) for signum in HANDLED}
    except ValueError:  # not the main thread: signals are not ours to take
        yield request
        return
    try:
        yield request
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
