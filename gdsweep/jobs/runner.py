"""One job: validated config -> objective on a device -> descent -> regime labels -> MLflow.

The only module that joins the pieces; Hydra reaches it through `gdsweep.app`, tests through
`execute` with a composed config.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from gdsweep import tracking
from gdsweep.config import validate
from gdsweep.core import curvature, optimizers, theory
from gdsweep.core.descent import Trajectory, descend_in_chunks
from gdsweep.core.regimes import CONVERGING, OSCILLATING, Regimes, classify
from gdsweep.core.spec import RunSpec
from gdsweep.errors import GdsweepError
from gdsweep.jobs import devices, signals
from gdsweep.objectives import functions
from gdsweep.report import palette
from gdsweep.report.table import Row, describe
from gdsweep.tracking import links, provenance

DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass(frozen=True)
class Outcome:
    """What a finished job reports back."""

    run_id: str
    uri: str
    row: Row


@dataclass(frozen=True)
class Job:
    """A job's checked settings and where it logs: what a plain run and a scan share."""

    name: str
    resolved: dict[str, Any]  # the config, resolved once: params and the config artifact
    spec: RunSpec
    function: functions.Function
    device: torch.device
    dtype: torch.dtype
    store: tracking.Store
    tags: dict[str, str]
    parent: str | None

    @property
    def params(self) -> dict[str, Any]:
        model = self.function.model
        return {**_flatten(self.resolved), **(model.params if model else {}), "torch.threads": torch.get_num_threads()}


def prepare(
    cfg: DictConfig, overrides: Sequence[str], sweep: tracking.Sweep | None, extra_tags: Mapping[str, str] = {}
) -> Job:
    """Check the config and open the store; a bad value raises GdsweepError before any run is left open.

    Inside a sweep a bad value still gets a FAILED child run, so the sweep records it.
    """
    name = cfg.tracking.run_name or ",".join(overrides) or "defaults"
    resolved = OmegaConf.to_container(cfg, resolve=True)
    try:
        spec = validate(cfg)
        function = functions.build(spec.function, dim=len(spec.x0))
        if function.model is not None:  # a model starts from its own weights
            spec = dataclasses.replace(spec, x0=function.model.start)
        device = devices.resolve(spec.device)
        devices.use_threads(spec.threads, function.model.work if function.model else 0)
    except GdsweepError as err:
        if sweep:
            run_id = tracking.start_run(sweep.store, name, provenance.slurm(), sweep.parent_run_id)
            tracking.log_run(sweep.store, run_id, params=_flatten(resolved))
            tracking.fail_run(sweep.store, run_id, err)
        raise
    store = (
        sweep.store
        if sweep
        else tracking.open_store(
            tracking.resolve_uri(cfg.tracking.uri, cfg.outputs_dir), cfg.tracking.experiment, cfg.outputs_dir
        )
    )
    tags = {**provenance.tags(device), **extra_tags}
    parent = sweep.parent_run_id if sweep else None
    return Job(name, resolved, spec, function, device, DTYPES[spec.dtype], store, tags, parent)


def log_config(job: Job, run_id: str, overrides: Sequence[str], hydra_dir: Path | None) -> None:
    """The job's .hydra folder (or, without Hydra, its overrides) and the resolved config, under hydra/."""
    texts = {"config.resolved.yaml": OmegaConf.to_yaml(job.resolved)}
    if hydra_dir is None:
        texts["overrides.yaml"] = OmegaConf.to_yaml(list(overrides))
    tracking.log_files(job.store, run_id, hydra_dir, texts, "hydra")


def execute(
    cfg: DictConfig,
    overrides: Sequence[str] = (),
    hydra_dir: Path | None = None,
    sweep: tracking.Sweep | None = None,
    extra_tags: Mapping[str, str] = {},
) -> Outcome:
    """Run one job and log it; a bad value raises GdsweepError before any run is left open.

    hydra_dir is the job's `.hydra` folder (logged as artifacts); sweep is the parent run of a
    --multirun, or None for a plain run.
    """
    job = prepare(cfg, overrides, sweep, extra_tags)
    spec, function, store, dtype, device, params = job.spec, job.function, job.store, job.dtype, job.device, job.params
    with signals.deferred() as stop, tracking.tracked_run(store, job.name, job.tags, job.parent) as run_id:
        x0 = torch.tensor(spec.x0, dtype=dtype, device=device)
        lr = torch.tensor([spec.lr], dtype=dtype, device=device)
        pieces = []
        rule = optimizers.rule(spec.optimizer, lr)  # None for gd: the article's update
        if rule is not None and spec.optimizer.name == "adam":
            rule.record_every = spec.track_sharpness_every  # for the preconditioned sharpness
        for piece in descend_in_chunks(function.f, x0, lr, spec.N, spec.chunk_steps, rule):
            pieces.append(piece)  # logged as it comes: a kill loses at most one chunk
            series = {**_series(piece), **(function.model.series(piece.x[:, 0]) if function.model else {})}
            tracking.log_run(
                store, run_id, params=params if len(pieces) == 1 else {}, series=series, first_step=piece.start
            )
            stop.check(f"after step {piece.start + piece.steps} of {spec.N} (all logged)")
        trajectory = Trajectory.join(pieces)
        labels = classify(trajectory.cost, trajectory.x, trajectory.grad_norm, spec.tolerances)
        final_cost, rate = trajectory.cost[-1, 0].item(), labels.rate[0]
        reached = (trajectory.grad_norm[:, 0] <= spec.tolerances.grad_tol).nonzero()
        local = theory.local_model(
            function,
            trajectory,
            labels.regime[0] == CONVERGING,
            spec.lr,
            spec.track_sharpness_every,
            labels.converged[0],
            spec.optimizer,
            rule.preconditioners if rule is not None else None,
            start=x0,
            key=theory_key(spec),
        )
        tracking.log_run(
            store,
            run_id,
            tags={
                **_result_tags(labels, trajectory.cost[:, 0].tolist()),
                **local.tags,
                links.COLOR_TAG: palette.color(labels.regime[0]),  # a sweep shades it by lr at its end
            },
            metrics={
                "final_cost": final_cost,
                "rate": rate,
                **({"steps_to_tol": float(reached[0])} if len(reached) else {}),
                **_adam_edge(spec),
                **local.metrics,
                **(curvature.at_start(function.f, trajectory.x[0, 0]) if function.model else {}),
            },
            series=local.series,
        )
        log_config(job, run_id, overrides, hydra_dir)
        if sweep is None:  # a sweep's pictures are its report's; a plain run gets its own
            _log_figures(store, run_id, function, trajectory, labels, hydra_dir, local.series.get("sharpness"))
    detail = describe(labels.path[0], labels.period[0], labels.converged[0])
    theory_columns = {"critical_lr": local.metrics.get("critical_lr"), "predicted": local.tags.get("predicted_regime")}
    row = Row(spec.lr, labels.regime[0], final_cost, rate, detail, spec.optimizer.name, **theory_columns)
    return Outcome(run_id, store.uri, row)


def _adam_edge(spec: RunSpec) -> dict[str, float]:
    """Adam's adaptive edge of stability (2 + 2β₁)/((1 − β₁)·lr), next to its preconditioned sharpness."""
    beta1 = spec.optimizer.betas[0]
    if spec.optimizer.name != "adam" or not spec.track_sharpness_every:
        return {}
    return {"preconditioned_edge": (2 + 2 * beta1) / ((1 - beta1) * spec.lr)}


def theory_key(spec: RunSpec) -> tuple:
    """What a theory point depends on: the function's settings and x0 (not the lr, N, dtype or optimizer)."""
    return (repr(sorted(spec.function.items())), spec.x0)


def _log_figures(
    store: tracking.Store,
    run_id: str,
    function: functions.Function,
    trajectory: Trajectory,
    labels: Regimes,
    hydra_dir: Path | None,
    sharpness: dict[int, float] | None = None,
) -> None:
    """The run's cost curve, path on f (1-D and 2-D) and sharpness (when tracked), logged under plots/."""
    from gdsweep.report import plots

    x = trajectory.x[:, 0].double().cpu().tolist() if trajectory.x.shape[-1] <= 2 else []
    run = plots.run_data(
        trajectory.lr[0].item(), labels.regime[0], labels.rate[0], list(enumerate(trajectory.cost[:, 0].tolist())), x
    )
    run["sharpness"] = sorted(sharpness.items()) if sharpness else []
    with tempfile.TemporaryDirectory() as scratch:
        folder = hydra_dir.parent / "plots" if hydra_dir is not None else Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        surface = functions.as_numpy(function) if function.model is None else (None, None)
        plots.save(plots.single_run(run, *surface, function.minimum, function.minimizers), folder)
        tracking.log_files(store, run_id, folder, {}, "plots")


def _series(trajectory: Trajectory) -> dict[str, list[float]]:
    """The per-step series of the first (here: only) learning rate; the iterates in 1-D (x)
    and 2-D (x_0, x_1), where the report can draw them. Step k is row k - trajectory.start."""
    series = {"cost": trajectory.cost[:, 0].tolist(), "grad_norm": trajectory.grad_norm[:, 0].tolist()}
    dim = trajectory.x.shape[-1]
    if dim == 1:
        series["x"] = trajectory.x[:, 0, 0].tolist()
    if dim == 2:
        series.update({f"x_{i}": trajectory.x[:, 0, i].tolist() for i in range(2)})
    return series


def _result_tags(labels: Regimes, cost: list[float]) -> dict[str, str]:
    """regime and converged always; path on converging runs, period on oscillating ones."""
    tags = {"regime": labels.regime[0], "converged": str(labels.converged[0]).lower()}
    if labels.regime[0] == CONVERGING:
        tags["path"] = labels.path[0]
    if labels.regime[0] == OSCILLATING:
        tags["period"] = str(labels.period[0])
    blown = [step for step, value in enumerate(cost) if not math.isfinite(value)]
    if blown:
        tags["nonfinite_from_step"] = str(blown[0])
    return tags


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists stay values. The `hydra` node is not a parameter."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if key == "hydra" and not prefix:
            continue
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
