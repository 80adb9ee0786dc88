"""gdsweep: plain gradient descent under Hydra, tracked in MLflow, swept over learning rates."""

__version__ = "0.1.0"
