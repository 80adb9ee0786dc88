"""The one exception type a user sees: a bad input, named by its key, with the fix."""


class GdsweepError(Exception):
    """Bad input. Printed as one line (`gdsweep: error: <key>: <what> — <fix>`), never a traceback."""

    def __init__(self, key: str, problem: str, fix: str) -> None:
        self.key, self.problem, self.fix = key, problem, fix
        super().__init__(f"{key}: {problem}; {fix}")

    def line(self) -> str:
        return f"gdsweep: error: {self}"
