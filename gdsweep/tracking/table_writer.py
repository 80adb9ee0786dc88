"""A run's full-resolution trajectory as a Parquet table: one row per step, written as the run goes.

Each chunk of steps becomes a row group, appended to a local file while the run is computing;
the file is logged as the run's artifact `trajectory/trajectory.parquet` when the run ends,
however it ends (finished, Ctrl-C, SIGTERM, an exception). Columns: `step` (int64), then the
per-step series in the run's own dtype (float32 runs stay float32: the values are the ones the
descent computed, bit for bit). pyarrow comes with MLflow.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from gdsweep.tracking.store import Store

ARTIFACT_DIR = "trajectory"
FILE_NAME = "trajectory.parquet"
ARTIFACT = f"{ARTIFACT_DIR}/{FILE_NAME}"


class TableWriter:
    """Appends chunks (column name -> 1-D array, all of one length) to a Parquet file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None

    def append(self, columns: Mapping[str, np.ndarray]) -> None:
        arrays = {name: pa.array(np.asarray(values)) for name, values in columns.items()}
        if self._writer is None:
            self._schema = pa.schema([(name, array.type) for name, array in arrays.items()])
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(self.path, self._schema, compression="zstd")
        table = pa.Table.from_arrays([arrays[f.name].cast(f.type) for f in self._schema], schema=self._schema)
        self._writer.write_table(table)
        self.rows += table.num_rows

    def close(self) -> bool:
        """Write the footer; True when the file holds at least one row."""
        if self._writer is None:
            return False
        self._writer.close()
        self._writer = None
        return True


def read_columns(
    path: Path, columns: Sequence[str] | None = None, max_rows: int | None = None
) -> dict[str, np.ndarray]:
    """The table's columns (all, or those named that exist) as numpy arrays, up to max_rows rows."""
    parquet = pq.ParquetFile(path)
    names = [c for c in (columns or parquet.schema_arrow.names) if c in parquet.schema_arrow.names]
    if max_rows is None:
        table = parquet.read(columns=names)
    else:
        batches, rows = [], 0
        for batch in parquet.iter_batches(batch_size=min(max_rows, 65536), columns=names):
            batches.append(batch)
            rows += batch.num_rows
            if rows >= max_rows:
                break
        table = pa.Table.from_batches(batches, schema=parquet.schema_arrow.select(names) if not batches else None)
        table = table.slice(0, max_rows)
    return {name: table.column(name).to_numpy(zero_copy_only=False) for name in names}


def download(store: Store, run_id: str, into: str | None = None) -> Path | None:
    """The run's table artifact as a local file, or None when the run has none (logged before tables)."""
    listed = {a.path for a in store.client.list_artifacts(run_id, ARTIFACT_DIR)}
    if ARTIFACT not in listed:
        return None
    return Path(store.client.download_artifacts(run_id, ARTIFACT, into))


def read_trajectory(
    store: Store, run_id: str, columns: Sequence[str] | None = None, max_rows: int | None = None
) -> dict[str, np.ndarray] | None:
    """Columns of a run's table (step included), the first max_rows rows; None without a table."""
    with tempfile.TemporaryDirectory() as scratch:
        path = download(store, run_id, scratch)
        if path is None:
            return None
        return read_columns(path, None if columns is None else ["step", *columns], max_rows)


def same_trajectory(store: Store, run_id: str, other_run_id: str) -> str | None:
    """None when both runs' tables hold bitwise the same values in every column and row, else where
    they first differ ("cost at step 7: ..."). Streams both files batch by batch: memory bounded in N.
    LookupError when either run has no table."""
    with tempfile.TemporaryDirectory() as scratch:
        paths = [download(store, run, str(Path(scratch) / run)) for run in (run_id, other_run_id)]
        if None in paths:
            raise LookupError("a run has no trajectory table")
        old, new = (pq.ParquetFile(path) for path in paths)
        if old.schema_arrow.names != new.schema_arrow.names:
            return f"columns {old.schema_arrow.names} then, {new.schema_arrow.names} now"
        if old.metadata.num_rows != new.metadata.num_rows:
            return f"{old.metadata.num_rows} steps then, {new.metadata.num_rows} now"
        for before, after in zip(old.iter_batches(batch_size=65536), new.iter_batches(batch_size=65536)):
            steps = before.column("step").to_numpy()
            for name in old.schema_arrow.names:
                a, b = before.column(name).to_numpy(), after.column(name).to_numpy()
                same = a.view(np.uint8).reshape(len(a), -1) == b.view(np.uint8).reshape(len(b), -1)
                rows = (~same.all(-1)).nonzero()[0]
                if len(rows):
                    row = rows[0]
                    return f"{name} at step {steps[row]}: {a[row].item()!r} then, {b[row].item()!r} now"
    return None
