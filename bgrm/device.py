"""Choosing the torch device and the settings that suit it."""

from __future__ import annotations

import torch

from bgrm.errors import EnvironmentProblem, UsageError


def resolve_device(name: str) -> torch.device:
    """'auto' -> the first CUDA device if there is one, else the CPU; checks cuda:N exists."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise UsageError(f"--device must be auto, cpu, cuda or cuda:N, got {name!r}") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise EnvironmentProblem(f"--device {name}: no CUDA device is available here")
        if device.index is not None and device.index >= torch.cuda.device_count():
            count = torch.cuda.device_count()
            raise EnvironmentProblem(f"--device {name}: only {count} CUDA device(s) here")
    elif device.type != "cpu":
        raise UsageError(f"--device must be auto, cpu, cuda or cuda:N, got {name!r}")
    return device


def default_batch(device: torch.device) -> int:
    """Frames per model call: small on the CPU (no gain from more), larger on a GPU."""
    return 16 if device.type == "cuda" else 4


def resolve_precision(precision: str) -> str:
    """'auto' -> fp32 on every device for now: fp16 (encoder and decoder in float16, refiner in
    float32) stays opt-in until its alpha error is measured on a GPU at real sizes."""
    return "fp32" if precision == "auto" else precision
