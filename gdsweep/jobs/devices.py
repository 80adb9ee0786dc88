"""Turn the `device` setting into a torch.device that exists on this machine, and pick CPU threads."""

from __future__ import annotations

import torch

from gdsweep.errors import GdsweepError


def resolve(name: str) -> torch.device:
    """auto picks CUDA when present, else Apple's MPS, else the CPU; anything else must exist."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = device.index or 0
        if index >= count:
            raise GdsweepError(
                "device",
                f"{name} is not available (this machine has {count} CUDA device(s))",
                "use device=auto or device=cpu",
            )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise GdsweepError("device", "mps is not available on this machine", "use device=auto or device=cpu")
    return device


DEFAULT_THREADS = torch.get_num_threads()  # torch's own choice (one per core), before anyone changes it
SMALL_WORK = 20_000_000  # multiply-adds per step below which one thread is fastest (README, Real models)


def use_threads(requested: int, work: int) -> int:
    """Set torch's CPU thread count and return it: `requested` when > 0; auto (0): one thread when a
    step's work (rows × multiply-adds per row) is below SMALL_WORK, else torch's default.

    Measured here: on small products a second thread costs more in hand-offs than it computes
    (1 thread ~6× faster than 2 on tiny matmuls); the closed-form functions are elementwise and
    always small. Large batched models (a 64-lr MLP scan) gain ~1.8× from two cores.
    """
    threads = requested if requested > 0 else (1 if work < SMALL_WORK else DEFAULT_THREADS)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads
