"""A run's per-step series, written off the critical path: a writer thread per run.

The runner hands over each computed chunk (numpy columns, one row per step) and goes on with
the next chunk's descent while the thread appends the chunk to the Parquet table (every step)
and logs the thinned points (`thinning`) to MLflow in batch calls. At most two chunks wait in
the queue: a writer that falls behind slows the descent down rather than filling memory.

Closing the stream (also on Ctrl-C, SIGTERM or an exception in the runner) drains the queue,
logs the last computed step, and logs the table as the artifact `trajectory/trajectory.parquet`,
so every computed step is written before the run ends KILLED or FAILED. An error in the thread
is raised in the runner at its next hand-over or at the close.
"""

from __future__ import annotations

import contextlib
import math
import queue
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from gdsweep.tracking import table_writer
from gdsweep.tracking.store import Store, log_file, log_run
from gdsweep.tracking.thinning import Thinner

SAMPLE_POINTS = 2000  # the in-memory sample kept for figures when the histories keep every step


class SeriesStream:
    """Where one run's chunks go: the table (every step), MLflow (thinned), a bounded sample."""

    def __init__(self, store: Store, run_id: str, steps: int, max_points: int, folder: Path, params: Mapping) -> None:
        self.store, self.run_id = store, run_id
        self.table = table_writer.TableWriter(folder / table_writer.FILE_NAME)
        self.thinner = Thinner(steps, max_points)
        self._sampler = Thinner(steps, SAMPLE_POINTS) if not self.thinner.thinned else None
        self.sample: dict[str, list[tuple[int, float]]] = {}  # the logged points (or a thinned sample) per series
        self._params = dict(params)
        self._queue: queue.Queue = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._last: tuple[int, dict[str, float]] | None = None  # the last row written, by step
        self._thread = threading.Thread(target=self._work, name=f"gdsweep-writer-{run_id[:8]}", daemon=True)
        self._thread.start()

    @property
    def thinned(self) -> bool:
        return self.thinner.thinned

    def put(self, first_step: int, columns: Mapping[str, np.ndarray], sparse: Mapping[str, Mapping] = {}) -> None:
        """Hand over rows first_step.. (name -> 1-D array) and sparse series (name -> {step: value})."""
        self._raise()
        self._queue.put((first_step, dict(columns), dict(sparse)))

    def close(self) -> None:
        """Wait for the writer, log the last computed step and the table; raise the writer's error."""
        self._queue.put(None)
        self._thread.join()
        self._raise()
        if self._last is not None and self.thinner.last_logged < self._last[0]:
            step, row = self._last
            log_run(self.store, self.run_id, series={k: {step: v} for k, v in row.items()})
            for key, value in row.items():
                if math.isfinite(value):
                    self.sample.setdefault(key, []).append((step, value))
        if self.table.close():
            log_file(self.store, self.run_id, self.table.path, table_writer.ARTIFACT_DIR)

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is None:  # after an error, only drain (the runner raises it)
                try:
                    self._write(*item)
                except BaseException as error:  # noqa: BLE001  (handed to the runner's thread)
                    self._error = error

    def _write(self, first: int, columns: dict[str, np.ndarray], sparse: dict[str, Mapping]) -> None:
        rows = len(next(iter(columns.values())))
        self.table.append({"step": np.arange(first, first + rows, dtype=np.int64), **columns})
        finite = np.logical_and.reduce([np.isfinite(v) for v in columns.values()])
        chosen, previous = self.thinner.select(first, finite)
        series: dict[str, dict[int, float]] = {}
        steps = (chosen + first).tolist()
        for key, values in columns.items():
            series[key] = dict(zip(steps, values[chosen].tolist()))
            if previous and self._last is not None:
                series[key][self._last[0]] = self._last[1][key]
        log_run(self.store, self.run_id, params=self._params, series={**series, **sparse})
        self._params = {}
        self._keep_sample(first, columns, series, finite)
        self._last = (first + rows - 1, {key: values[-1].item() for key, values in columns.items()})

    def _keep_sample(self, first: int, columns, series, finite) -> None:
        if self._sampler is not None:  # histories keep every step: sample them for the figures
            chosen, _ = self._sampler.select(first, finite)
            steps = (chosen + first).tolist()
            series = {key: dict(zip(steps, values[chosen].tolist())) for key, values in columns.items()}
        for key, points in series.items():  # finite values only, as in the histories
            self.sample.setdefault(key, []).extend(p for p in sorted(points.items()) if math.isfinite(p[1]))


@contextlib.contextmanager
def streamed(
    store: Store, run_id: str, steps: int, max_points: int, folder: Path | None, params: Mapping = {}
) -> Iterator[SeriesStream]:
    """A SeriesStream for one run, closed however the block ends (the table lands in `folder`,
    or in a temporary folder that is removed once the table is logged)."""
    with tempfile.TemporaryDirectory() as scratch:
        stream = SeriesStream(store, run_id, steps, max_points, folder or Path(scratch), params)
        try:
            yield stream
        except BaseException:
            with contextlib.suppress(Exception):  # the runner's own exception is the one to report
                stream.close()  # every step computed so far is written before the run ends
            raise
        stream.close()
