"""The one exception type a user sees: a bad input, named by its key, with the fix."""

import sys
import tempfile
from pathlib import Path
from typing import NoReturn

EXIT_CODE = 2  # bad input, as argparse and most CLIs have it


class GdsweepError(Exception):
    """Bad input. Printed as one line (`gdsweep: error: <key>: <what>; <fix>`), never a traceback."""

    def __init__(self, key: str, problem: str, fix: str) -> None:
        self.key, self.problem, self.fix = key, problem, fix
        super().__init__(f"{key}: {problem}; {fix}")

    def line(self) -> str:
        return f"gdsweep: error: {self}"

    def exit(self) -> NoReturn:
        """Print the line on stderr and leave with EXIT_CODE."""
        print(self.line(), file=sys.stderr, flush=True)
        sys.exit(EXIT_CODE)


def require_writable(folder: Path, key: str, problem: str, fix: str) -> None:
    """Create `folder` and write a file in it, or raise the one line `key: problem (why); fix`."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise GdsweepError(key, f"{problem} ({err.strerror or err})", fix) from None
