"""`python -m gdsweep.reproduce RUN_ID`: the command users type; the code is `gdsweep.jobs.reproduce`."""

from gdsweep.jobs.reproduce import Reproduction, main, reproduce

__all__ = ["Reproduction", "main", "reproduce"]

if __name__ == "__main__":
    from gdsweep import lifecycle

    lifecycle.run(main)
