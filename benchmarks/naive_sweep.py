"""The reference gdsweep is measured against: how a sweep is usually hand-written.

Hydra for the config and --multirun, the article's loop, and one `mlflow.log_metric` call per
step. Run it like gdsweep: `python benchmarks/naive_sweep.py lr=0.01,0.1,1.0 N=1000 --multirun
uri=sqlite:///path/to/existing.db`. (On a fresh store with a parallel launcher it is the
script that corrupts the SQLite schema; the benchmark gives it an existing store.)
"""

from dataclasses import dataclass

import hydra
import mlflow
import torch
from hydra.core.config_store import ConfigStore


@dataclass
class NaiveConfig:
    lr: float = 0.1
    N: int = 9
    x0: float = 4.0
    uri: str = "sqlite:///outputs/mlflow.db"
    experiment: str = "naive"


ConfigStore.instance().store(name="naive", node=NaiveConfig)


@hydra.main(version_base="1.3", config_path=None, config_name="naive")
def main(cfg: NaiveConfig) -> None:
    mlflow.set_tracking_uri(cfg.uri)
    mlflow.set_experiment(cfg.experiment)
    with mlflow.start_run(run_name=f"lr={cfg.lr}"):
        mlflow.log_params({"lr": cfg.lr, "N": cfg.N, "x0": cfg.x0})
        x = torch.tensor(cfg.x0, requires_grad=True)
        mlflow.log_metric("cost", (x.detach() ** 2).item(), step=0)
        for step in range(1, cfg.N + 1):
            y = x**2
            y.backward()
            with torch.no_grad():
                x -= cfg.lr * x.grad
            x.grad.zero_()
            mlflow.log_metric("cost", (x.detach() ** 2).item(), step=step)


if __name__ == "__main__":
    main()
