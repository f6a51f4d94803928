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


CPU_PIXELS_PER_BATCH = 2_000_000


def default_batch(device: torch.device, height: int, width: int) -> int:
    """Frames per model call: 16 on a GPU; on the CPU about 2 Mpixel per call, 1 to 8 frames.

    On the CPU a larger batch only pays for small frames (176x144: 33 frames/s at batch 1,
    49 at 4); at 1080p batch 1 runs as fast as 4 (6.3 against 5.7 frames/s) in half the memory
    (867 against 1750 MiB peak RSS), measured with bench/process.py on 2 cores.
    """
    if device.type == "cuda":
        return 16
    return max(1, min(8, CPU_PIXELS_PER_BATCH // (height * width)))


def resolve_precision(precision: str) -> str:
    """'auto' -> fp32 on every device for now: fp16 (encoder and decoder in float16, refiner in
    float32) stays opt-in until its alpha error is measured on a GPU at real sizes."""
    return "fp32" if precision == "auto" else precision
