"""One job: validated config -> objective on a device -> descent -> regime labels -> MLflow.

The only module that joins the pieces; Hydra reaches it through `gdsweep.app`, tests through
`execute` with a composed config.
"""

from __future__ import annotations

import dataclasses
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
from gdsweep.core.follow import Follower, tail_rows
from gdsweep.core.regimes import CONVERGING, OSCILLATING, Regimes
from gdsweep.core.spec import RunSpec
from gdsweep.errors import GdsweepError
from gdsweep.jobs import devices, returned, signals
from gdsweep.objectives import functions
from gdsweep.report import palette
from gdsweep.report.table import Row, describe
from gdsweep.tracking import links, provenance

DTYPES = {"float32": torch.float32, "float64": torch.float64}
SPARSE = ("sharpness", "preconditioned_sharpness")  # series measured every K steps, not every step


@dataclass(frozen=True)
class Outcome:
    """What a finished job reports back."""

    run_id: str
    uri: str
    row: Row
    plotted: dict | None = None  # what the figures read of the run (its sampled cost and iterates)


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
    folder = hydra_dir.parent if hydra_dir is not None else None  # the table lands next to .hydra
    with signals.deferred() as stop, tracking.tracked_run(store, job.name, job.tags, job.parent) as run_id:
        x0 = torch.tensor(spec.x0, dtype=dtype, device=device)
        lr = torch.tensor([spec.lr], dtype=dtype, device=device)
        rule = optimizers.rule(spec.optimizer, lr)  # None for gd: the article's update
        if rule is not None and spec.optimizer.name == "adam":
            rule.record_every = spec.track_sharpness_every  # for the preconditioned sharpness
        follow = Follower(spec.N, tail_rows(spec.N, 1, len(spec.x0)), spec.tolerances.grad_tol)
        every, tracked = _sharpness_every(spec), {}
        with tracking.streamed(store, run_id, spec.N, spec.max_points, folder, params) as stream:
            for piece in descend_in_chunks(function.f, x0, lr, spec.N, spec.chunk_steps, rule):
                path = theory.path_series(function, piece, every, rule.preconditioners if rule is not None else None)
                sparse = {key: path.pop(key) for key in SPARSE if path.get(key)}
                tracked.update(sparse.get("sharpness", {}))
                if function.model is not None:  # param_norm, accuracy: not the raw weights
                    path.update({k: torch.tensor(v) for k, v in function.model.series(piece.x[:, 0]).items()})
                stream.put(piece.start, _columns(piece, path), sparse)
                follow.add(piece)  # the labels' tail and running statistics: memory bounded in N
                stop.check(f"after step {piece.start + piece.steps} of {spec.N} (all logged)")
        tail, labels = follow.labels(spec.tolerances)
        final_cost, rate = tail.cost[-1, 0].item(), labels.rate[0]
        local = theory.local_model(
            function,
            tail,
            labels.regime[0] == CONVERGING,
            spec.lr,
            converged=labels.converged[0],
            optimizer=spec.optimizer,
            start=follow.start,
            key=theory_key(spec),
        )
        tracking.log_run(
            store,
            run_id,
            tags={
                **_result_tags(labels, follow.blown),
                **local.tags,
                "gdsweep.thinned": str(stream.thinned).lower(),
                links.COLOR_TAG: palette.color(labels.regime[0]),  # a sweep shades it by lr at its end
            },
            metrics={
                "final_cost": final_cost,
                "rate": rate,
                **({"steps_to_tol": float(follow.reached)} if follow.reached is not None else {}),
                **_adam_edge(spec),
                **local.metrics,
                **(curvature.at_start(function.f, x0) if function.model else {}),
            },
        )
        log_config(job, run_id, overrides, hydra_dir)
        run = {**plots_input(spec.lr, labels, stream.sample), "sharpness": sorted(tracked.items())}
        if sweep is None:  # a sweep's pictures are its report's; a plain run gets its own
            _log_figures(store, run_id, function, run, hydra_dir)
        else:  # the sweep's report, built in this process, takes it from here
            returned.plotted[run_id], returned.objectives[run_id] = run, function
    detail = describe(labels.path[0], labels.period[0], labels.converged[0])
    theory_columns = {"critical_lr": local.metrics.get("critical_lr"), "predicted": local.tags.get("predicted_regime")}
    row = Row(spec.lr, labels.regime[0], final_cost, rate, detail, spec.optimizer.name, **theory_columns)
    return Outcome(run_id, store.uri, row, run)


def _adam_edge(spec: RunSpec) -> dict[str, float]:
    """Adam's adaptive edge of stability (2 + 2β₁)/((1 − β₁)·lr), next to its preconditioned sharpness."""
    beta1 = spec.optimizer.betas[0]
    if spec.optimizer.name != "adam" or not spec.track_sharpness_every:
        return {}
    return {"preconditioned_edge": (2 + 2 * beta1) / ((1 - beta1) * spec.lr)}


def theory_key(spec: RunSpec) -> tuple:
    """What a theory point depends on: the function's settings and x0 (not the lr, N, dtype or optimizer)."""
    return (repr(sorted(spec.function.items())), spec.x0)


def plots_input(lr: float, labels: Regimes, sample: Mapping[str, list[tuple[int, float]]]) -> dict:
    """What the figures read of a run (plots.run_data's shape), from the stream's bounded sample."""
    x = [[v] for _, v in sample.get("x", [])]
    if not x and sample.get("x_0"):
        second = dict(sample.get("x_1", []))  # by step: each series kept its finite points only
        x = [[a, second[step]] for step, a in sample["x_0"] if step in second]
    return {"lr": lr, "regime": labels.regime[0], "rate": labels.rate[0], "cost": list(sample.get("cost", [])), "x": x}


def _log_figures(
    store: tracking.Store, run_id: str, function: functions.Function, run: dict, hydra_dir: Path | None
) -> None:
    """The run's cost curve, path on f (1-D and 2-D) and sharpness (when tracked), drawn from the
    points the run kept, logged under plots/."""
    from gdsweep.report import plots

    with tempfile.TemporaryDirectory() as scratch:
        folder = hydra_dir.parent / "plots" if hydra_dir is not None else Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        surface = functions.as_numpy(function) if function.model is None else (None, None)
        plots.save(plots.single_run(run, *surface, function.minimum, function.minimizers), folder)
        tracking.log_files(store, run_id, folder, {}, "plots")


def _sharpness_every(spec: RunSpec) -> int:
    """track_sharpness_every, widened by a whole factor when its points would exceed tracking.max_points."""
    every = spec.track_sharpness_every
    if not every or not spec.max_points:
        return every
    return every * -(-(spec.N // every + 1) // spec.max_points)


def _columns(piece: Trajectory, path: Mapping[str, Any]) -> dict[str, Any]:
    """The per-step columns of the first (here: only) learning rate as numpy, row k = step piece.start + k:
    cost, grad_norm, the iterates in 1-D (x) and 2-D (x_0, x_1), and the per-step theory series."""
    columns = {"cost": piece.cost[:, 0], "grad_norm": piece.grad_norm[:, 0]}
    dim = piece.x.shape[-1]
    if dim == 1:
        columns["x"] = piece.x[:, 0, 0]
    if dim == 2:
        columns.update({f"x_{i}": piece.x[:, 0, i] for i in range(2)})
    columns.update(path)
    return {key: value.detach().cpu().numpy() for key, value in columns.items()}


def _result_tags(labels: Regimes, blown: int | None) -> dict[str, str]:
    """regime and converged always; path on converging runs, period on oscillating ones."""
    tags = {"regime": labels.regime[0], "converged": str(labels.converged[0]).lower()}
    if labels.regime[0] == CONVERGING:
        tags["path"] = labels.path[0]
    if labels.regime[0] == OSCILLATING:
        tags["period"] = str(labels.period[0])
    if blown is not None:
        tags["nonfinite_from_step"] = str(blown)
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
