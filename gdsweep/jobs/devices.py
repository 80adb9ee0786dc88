"""Turn the `device` setting into a torch.device that exists on this machine."""

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
