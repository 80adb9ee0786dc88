"""`python -m gdsweep.ui [SWEEP_DIR | RUN_ID | EXPERIMENT]`: the command users type; the code is `gdsweep.jobs.ui`."""

from gdsweep.jobs.ui import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
