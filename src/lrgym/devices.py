"""Turning the `device` option into a torch device, with errors that say what is available."""

from __future__ import annotations

import torch


def resolve_device(name: str) -> torch.device:
    """'auto' is CUDA when present, else the CPU; 'cuda[:N]' must exist on this machine."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = device.index or 0
        if index >= count:
            available = ["auto", "cpu"] + [f"cuda:{i}" for i in range(count)]
            raise ValueError(f"device={name!r} is not available on this machine; available: {available}")
    return device
