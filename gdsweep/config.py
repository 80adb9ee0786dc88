"""The config schema (registered with Hydra) and the validator that turns a config into a RunSpec.

The schema fixes which keys exist and their structure; values a user types on the command
line (lr, N, x0, device, dtype) are typed loosely there and checked here, so a bad value gets
one line that names the key and the fix instead of an OmegaConf type error. Importing this
module costs no torch or MLflow: `--help` and config errors stay fast.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf

from gdsweep.core.spec import OptimizerSpec, RunSpec, ScanSpec, Tolerances
from gdsweep.errors import GdsweepError

DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
DTYPES = ("float32", "float64")


@dataclass
class TrackingConfig:
    uri: str | None = None  # unset: $MLFLOW_TRACKING_URI, else sqlite:///<outputs_dir>/mlflow.db
    experiment: str = "gdsweep"
    run_name: str | None = None  # unset: the command-line overrides, e.g. "lr=0.1"
    chunk_steps: int = 1000  # steps computed between two flushes to MLflow: a hard kill loses at most these
    max_points: Any = 2000  # most points per metric history; 0 or null: every step (the table has every step)


@dataclass
class GdsweepConfig:
    function: dict[str, Any] = MISSING
    # conf/optimizer/NAME.yaml; checked by optimizer_spec
    optimizer: dict[str, Any] = field(default_factory=lambda: {"name": "gd"})
    x0: Any = MISSING
    lr: Any = MISSING
    N: Any = MISSING
    device: str = MISSING
    dtype: str = MISSING
    outputs_dir: str = "outputs"
    track_sharpness_every: int = 0
    threads: Any = "auto"  # torch CPU threads: auto (1 for small problems) or a whole number
    regime: Tolerances = field(default_factory=Tolerances)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    scan: Any = None  # set by scan=dense or scan=edge (conf/scan/); checked by scan_spec


ConfigStore.instance().store(name="gdsweep_schema", node=GdsweepConfig)


def validate(cfg: DictConfig) -> RunSpec:
    """Check every user-set value; raise GdsweepError naming the first bad key and its fix."""
    dtype = str(cfg.dtype)
    if dtype not in DTYPES:
        raise GdsweepError("dtype", f"{dtype!r} is not supported", "use dtype=float32 or dtype=float64")
    device = str(cfg.device)
    if not DEVICE.fullmatch(device):
        raise GdsweepError("device", f"{device!r} is not a device", "use device=auto, cpu, cuda, cuda:K or mps")
    tolerances = Tolerances(**OmegaConf.to_container(cfg.regime))  # typed or not (a logged config)
    function = OmegaConf.to_container(cfg.function, resolve=True)
    return RunSpec(
        function=function,
        x0=_model_start(function, cfg.x0) if "dataset" in function else _point(cfg.x0),
        lr=_learning_rate(cfg.lr),
        N=_whole("N", cfg.N, 1, "9"),
        device=device,
        dtype=dtype,
        tolerances=tolerances,
        track_sharpness_every=_whole("track_sharpness_every", cfg.track_sharpness_every, 0, "10"),
        chunk_steps=_whole("tracking.chunk_steps", cfg.tracking.chunk_steps, 1, "1000"),
        optimizer=optimizer_spec(cfg.get("optimizer")),
        threads=0 if cfg.get("threads", "auto") == "auto" else _whole("threads", cfg.threads, 1, "1"),
        max_points=_max_points(cfg.tracking.get("max_points", 2000)),
    )


def _model_start(function: dict[str, Any], x0: Any) -> tuple[float, ...]:
    """A model (a function node with a dataset) starts from its own weights: x0 must stay unset."""
    if x0 is not None:
        name = function.get("name")
        start = "PyTorch's nn.Linear init under function.seed" if name == "mlp" else "zero weights"
        raise GdsweepError("x0", f"{name} starts from its own weights ({start}), not from x0", "drop x0= (x0=null)")
    return ()


OPTIMIZERS = ("gd", "momentum", "nesterov", "adam")


def optimizer_spec(node: Any) -> OptimizerSpec:
    """The optimizer group (conf/optimizer/NAME.yaml) as a checked OptimizerSpec; gd when unset."""
    if node is None:
        return OptimizerSpec()
    name = str(node.get("name"))
    if name not in OPTIMIZERS:
        raise GdsweepError(
            "optimizer", f"no optimizer named {name!r}", f"use optimizer=NAME, one of: {', '.join(OPTIMIZERS)}"
        )
    momentum = _fraction("optimizer.momentum", node.get("momentum", 0.0), "0.9")
    if name in ("momentum", "nesterov"):
        return OptimizerSpec(name, momentum=momentum)
    if name == "gd":
        return OptimizerSpec()
    betas = node.get("betas", [0.9, 0.999])
    if not isinstance(betas, (list, tuple, ListConfig)) or len(betas) != 2:
        raise GdsweepError("optimizer.betas", f"{_show(betas)} is not a pair", "give e.g. optimizer.betas=[0.9,0.999]")
    pair = tuple(_fraction("optimizer.betas", b, "[0.9,0.999]") for b in betas)
    eps = node.get("eps", 1e-8)
    if not _is_number(eps) or not math.isfinite(eps) or eps <= 0:
        raise GdsweepError("optimizer.eps", f"{eps!r} is not a positive number", "give e.g. optimizer.eps=1e-8")
    return OptimizerSpec(name, betas=pair, eps=float(eps))


def _fraction(key: str, value: Any, example: str) -> float:
    """A number in [0, 1): a momentum or an Adam beta."""
    if not _is_number(value) or not 0 <= value < 1:
        raise GdsweepError(key, f"{_show(value)} is not in [0, 1)", f"give e.g. {key}={example}")
    return float(value)


MIN_POINTS = 16  # a history thinner than this could not hold step 0, step N and a spread between


def _max_points(value: Any) -> int:
    """tracking.max_points: 0 or null keep every step; else a whole number >= MIN_POINTS."""
    if value is None or (_is_number(value) and value == 0):
        return 0
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < MIN_POINTS:
        raise GdsweepError(
            "tracking.max_points",
            f"{value!r} is not 0, null or a whole number >= {MIN_POINTS}",
            "use e.g. tracking.max_points=2000 (0 logs every step)",
        )
    return value


SCAN_MODES, SPACINGS = ("dense", "edge"), ("log", "linear")


def scan_spec(cfg: DictConfig) -> ScanSpec | None:
    """The scan's settings when scan=dense or scan=edge was chosen, else None."""
    scan = cfg.get("scan")
    if scan is None:
        return None
    mode, spacing = str(scan.get("mode")), str(scan.get("spacing"))
    if mode not in SCAN_MODES:
        raise GdsweepError("scan.mode", f"{mode!r} is not a scan", "choose scan=dense or scan=edge")
    if spacing not in SPACINGS:
        raise GdsweepError(
            "scan.spacing", f"{spacing!r} is not a spacing", "use scan.spacing=log or scan.spacing=linear"
        )
    lr_min, lr_max = _positive("scan.lr_min", scan.get("lr_min")), _positive("scan.lr_max", scan.get("lr_max"))
    if lr_min >= lr_max:
        raise GdsweepError(
            "scan.lr_max", f"{lr_max:g} is not above scan.lr_min={lr_min:g}", f"give e.g. scan.lr_max={10 * lr_min:g}"
        )
    return ScanSpec(
        mode=mode,
        lr_min=lr_min,
        lr_max=lr_max,
        num=_whole("scan.num", scan.get("num"), 2, "1000"),
        spacing=spacing,
        tail=_whole("scan.tail", scan.get("tail"), 8, "256"),
        rel_tol=_positive("scan.rel_tol", scan.get("rel_tol")),
        momenta=_momenta(scan.get("momenta"), optimizer_spec(cfg.get("optimizer")).name),
    )


def _momenta(value: Any, optimizer: str) -> tuple[float, ...]:
    """scan.momenta: a list of β, or a range {min: 0, max: 0.99, num: 34} (evenly spaced, both ends)."""
    if value is None:
        return ()
    if optimizer not in ("momentum", "nesterov"):
        raise GdsweepError(
            "scan.momenta",
            f"optimizer={optimizer} has no momentum axis",
            "add optimizer=momentum or optimizer=nesterov",
        )
    if isinstance(value, (dict, DictConfig)) and set(value) == {"min", "max", "num"}:
        low, high = (_fraction("scan.momenta", value[k], "{min:0,max:0.99,num:34}") for k in ("min", "max"))
        num = _whole("scan.momenta.num", value["num"], 2, "34")
        if high <= low:
            raise GdsweepError(
                "scan.momenta", f"max={high:g} is not above min={low:g}", "give e.g. {min:0,max:0.99,num:34}"
            )
        return tuple(low + (high - low) * i / (num - 1) for i in range(num))
    if not isinstance(value, (list, tuple, ListConfig)):
        raise GdsweepError(
            "scan.momenta",
            f"{_show(value)} is not a list or a range",
            "give e.g. scan.momenta=[0,0.5,0.9] or {min:0,max:0.99,num:34}",
        )
    return tuple(_fraction("scan.momenta", b, "[0,0.5,0.9]") for b in value)


def _positive(key: str, value: Any) -> float:
    if not _is_number(value) or not math.isfinite(value) or value <= 0:
        raise GdsweepError(key, f"{value!r} is not a positive number", f"give e.g. {key}=0.1")
    return float(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _learning_rate(value: Any) -> float:
    if isinstance(value, (list, tuple, ListConfig)):
        raise GdsweepError("lr", "expected one number, got a list", "to sweep, write lr=0.01,0.1,1.0 --multirun")
    if not _is_number(value) or not math.isfinite(value):
        raise GdsweepError("lr", f"{value!r} is not a finite number", "give a positive number, e.g. lr=0.1")
    if value <= 0:
        raise GdsweepError("lr", f"{value!r} is not positive", "give a positive number, e.g. lr=0.1")
    return float(value)


def _whole(key: str, value: Any, minimum: int, example: str) -> int:
    """A whole number >= minimum (2.0 counts, True does not)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise GdsweepError(key, f"{value!r} is not a whole number >= {minimum}", f"use e.g. {key}={example}")
    return value


def _point(value: Any) -> tuple[float, ...]:
    values = list(value) if isinstance(value, (list, tuple, ListConfig)) else [value]
    if not values or not all(_is_number(v) and math.isfinite(v) for v in values):
        raise GdsweepError(
            "x0", f"{_show(value)} is not a finite number or list of numbers", "give e.g. x0=4 or x0=[1,2]"
        )
    return tuple(float(v) for v in values)


def _show(value: Any) -> str:
    return repr(OmegaConf.to_container(value) if isinstance(value, ListConfig) else value)
