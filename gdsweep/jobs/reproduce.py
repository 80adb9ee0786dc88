"""Re-run a logged run from what MLflow holds, and say whether it came out the same.

    python -m gdsweep.reproduce RUN_ID [--tracking-uri URI]

The run's resolved config (artifact hydra/config.resolved.yaml) and overrides are read back, the
job is run again as a new run in the same store, tagged gdsweep.reproduces=RUN_ID, and the two
runs' per-step series are compared value for value, every step: from their trajectory tables
(trajectory/trajectory.parquet), or from the metric histories of a run logged before tables
existed. On the CPU with the same versions they are bitwise identical, in float32 and float64.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass

import yaml
from omegaconf import OmegaConf

from gdsweep import tracking
from gdsweep.config import GdsweepConfig
from gdsweep.errors import GdsweepError
from gdsweep.jobs.runner import execute

COMPARED = ("cost", "grad_norm", "x", "x_0", "x_1")
# Modules that moved when the package was split into layers: a config logged before the move names
# the old path in a `_target_`, and reads as if it named the new one.
MOVED = {
    "gdsweep.callbacks.": "gdsweep.jobs.callbacks.",
    "gdsweep.runner.": "gdsweep.jobs.runner.",
    "gdsweep.functions.": "gdsweep.objectives.functions.",
    "gdsweep.expressions.": "gdsweep.objectives.expressions.",
}


@dataclass(frozen=True)
class Reproduction:
    run_id: str
    identical: bool
    first_difference: str | None  # "cost at step 7" when not identical


def reproduce(uri: str, run_id: str, outputs_dir: str = "outputs") -> Reproduction:
    """Run `run_id` of the store at `uri` again from its logged config and compare the series.

    What the store holds is data, never an instruction: the config must be the resolved one (an
    interpolation such as ${oc.env:SECRET} is refused, never resolved), the run goes to `uri` and
    this machine's `outputs_dir` whatever the stored config says, and only the two files named
    are fetched, into a temporary folder.
    """
    source = tracking.get_run(uri, run_id)
    store = tracking.Store(uri, source.info.experiment_id)
    with tempfile.TemporaryDirectory() as scratch:
        texts = tracking.read_artifacts(store, run_id, "hydra", ("config.resolved.yaml", "overrides.yaml"), scratch)
    if "config.resolved.yaml" not in texts:
        raise LookupError(f"run {run_id} has no hydra/config.resolved.yaml artifact to reproduce from")
    overrides = yaml.safe_load(texts.get("overrides.yaml", "[]")) or []
    stored = _upgrade(yaml.safe_load(texts["config.resolved.yaml"]) or {})
    stored.pop("hydra", None)  # Hydra's own settings are not the job's config
    _refuse_interpolations(stored, run_id)
    if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
        raise LookupError(f"run {run_id}: hydra/overrides.yaml is not a list of overrides")
    cfg = OmegaConf.merge(OmegaConf.structured(GdsweepConfig), OmegaConf.create(stored))
    cfg.tracking.uri = uri
    cfg.outputs_dir = outputs_dir
    cfg.tracking.run_name = f"reproduce {source.info.run_name}"
    outcome = execute(cfg, overrides or [], None, None, {"gdsweep.reproduces": run_id})
    try:  # every step, from the two runs' tables (their histories may be thinned)
        difference = tracking.same_trajectory(store, run_id, outcome.run_id)
        return Reproduction(outcome.run_id, difference is None, difference)
    except LookupError:  # a run logged before the table existed: its histories hold every step
        pass
    before = tracking.histories(store, run_id, COMPARED)
    after = tracking.histories(store, outcome.run_id, COMPARED)
    for key in COMPARED:
        for (step, old), (_, new) in zip(before.get(key, []), after.get(key, [])):
            if old != new:
                return Reproduction(outcome.run_id, False, f"{key} at step {step}: {old!r} then, {new!r} now")
        if len(before.get(key, [])) != len(after.get(key, [])):
            return Reproduction(outcome.run_id, False, f"{key}: a different number of steps")
    return Reproduction(outcome.run_id, True, None)


def _refuse_interpolations(tree, run_id: str, path: str = "") -> None:
    """A resolved config has no ${...} left: one that has is refused, never resolved."""
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) else ()
    for key, value in items:
        where = f"{path}.{key}" if path else str(key)
        if isinstance(value, str) and "${" in value:
            raise GdsweepError(
                where,
                f"run {run_id}'s stored config holds an interpolation ({value[:80]}), which a resolved config never has",
                "refusing to resolve it; reproduce only runs gdsweep logged (or remove the interpolation)",
            )
        _refuse_interpolations(value, run_id, where)


def _upgrade(tree):
    """The stored config with every `_target_` that names a moved module pointed at its new home."""
    if isinstance(tree, dict):
        return {key: _retarget(value) if key == "_target_" else _upgrade(value) for key, value in tree.items()}
    if isinstance(tree, list):
        return [_upgrade(value) for value in tree]
    return tree


def _retarget(target):
    for old, new in MOVED.items():
        if isinstance(target, str) and target.startswith(old):
            return new + target.removeprefix(old)
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gdsweep.reproduce", description=__doc__.splitlines()[0])
    parser.add_argument("run_id", help="the MLflow run to reproduce")
    parser.add_argument("--tracking-uri", help="default: $MLFLOW_TRACKING_URI, else sqlite:///outputs/mlflow.db")
    args = parser.parse_args(argv)
    try:
        result = reproduce(tracking.resolve_uri(args.tracking_uri, "outputs"), args.run_id)
    except (LookupError, GdsweepError) as err:
        sys.exit(f"gdsweep.reproduce: error: {err}")
    if result.identical:
        print(f"Reproduced {args.run_id} as {result.run_id}: every per-step value is identical.")
        return
    print(f"Reproduced {args.run_id} as {result.run_id}: DIFFERENT, first at {result.first_difference}.")
    sys.exit(1)


if __name__ == "__main__":
    main()
