"""The floor a gdsweep command cannot go under: a Python process that imports torch, MLflow and
Hydra and opens the embedded store (`python benchmarks/floor.py` in the folder holding outputs/)."""

import hydra  # noqa: F401
import mlflow  # noqa: F401
import torch  # noqa: F401

from gdsweep import tracking

tracking.open_store(tracking.embedded_uri("outputs"), "gdsweep", "outputs")
