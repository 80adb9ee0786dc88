"""The floor a gdsweep command cannot go under: a Python process that imports torch, MLflow and
Hydra (in that order, the fastest) and opens the embedded store (`python benchmarks/floor.py` in
the folder holding outputs/).

`python benchmarks/floor.py lean` is the same process started and ended the way a gdsweep command
is (`gdsweep.lifecycle`: the collector off while importing, no interpreter teardown): against it,
a ratio shows what gdsweep's own work costs, with the start-up and exit savings taken out.
"""

import sys

from gdsweep import lifecycle


def floor() -> None:
    # isort: off
    import torch  # noqa: F401  (first: after MLflow, torch's import takes 0.1-0.3 s longer)
    import mlflow  # noqa: F401
    import hydra  # noqa: F401

    # isort: on

    from gdsweep import tracking

    tracking.open_store(tracking.embedded_uri("outputs"), "gdsweep", "outputs")


if sys.argv[1:] == ["lean"]:
    lifecycle.run(floor)
else:
    floor()
