"""Reading a run's small text artifacts back, as data: named files only, into a folder of ours.

A store is written by many people. An artifact listing whose paths climb out (`..`, absolute
paths) is refused, and what is downloaded must land inside the scratch folder given.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from gdsweep.tracking.store import Store, _retry


def read_artifacts(store: Store, run_id: str, folder: str, names: Sequence[str], scratch: str) -> dict[str, str]:
    """The text of each named file under the run's artifact `folder` that exists, by name."""
    listed = {info.path for info in _retry(store.client.list_artifacts, run_id, folder) if not info.is_dir}
    texts = {}
    for name in names:
        path = f"{folder}/{name}"
        if path not in listed:
            continue
        parts = PurePosixPath(path).parts
        if PurePosixPath(path).is_absolute() or ".." in parts:
            raise LookupError(f"run {run_id}: artifact path {path!r} leaves the run's folder")
        local = Path(_retry(store.client.download_artifacts, run_id, path, scratch)).resolve()
        if not local.is_relative_to(Path(scratch).resolve()) or not local.is_file():
            raise LookupError(f"run {run_id}: artifact {path!r} was not delivered inside {scratch}")
        texts[name] = local.read_text()
    return texts
