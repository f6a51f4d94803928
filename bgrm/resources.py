"""What a job may use of the machine: the device, the batch that fits its memory, the allocator.

Memory. Working memory grows with batch * H * W. Measured on CPU in float32 with peak RSS
(model, refiner, background and compositing, one batch in flight): 1080p at ratio 0.27: 177 B
per pixel per frame; at 0.5: 279; at 1.0: 740; 4K at 0.13: 135. That fits
``FULL_RES_BYTES + MODEL_BYTES * ratio**2`` per pixel per frame, which adds the uint8 frames
queued between the stages.

Allocator. Every batch allocates and frees tensors of hundreds of megabytes (a batch of 1080p
frames in float32 is 100 MB). glibc serves blocks that large with mmap and returns them with
munmap, so the next batch page-faults the same memory back in: on a 2-core CPU that was half the
run time, spent in the kernel. Raising glibc's mmap and trim thresholds keeps the memory in the
heap for reuse. Peak memory is unchanged (the blocks are reused, not added); only its return to
the kernel is deferred to the end of the process. Does nothing where glibc is not the allocator.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
from dataclasses import dataclass

import torch

from bgrm.errors import EnvironmentProblem, UsageError


def resolve_device(name: str) -> torch.device:
    """'auto' -> the first CUDA device if there is one, else the CPU; checks cuda:N exists."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise UsageError(f"`device` must be auto, cpu, cuda or cuda:N, got {name!r}") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise EnvironmentProblem(f"`device` {name}: no CUDA device is available here")
        if device.index is not None and device.index >= torch.cuda.device_count():
            count = torch.cuda.device_count()
            raise EnvironmentProblem(f"`device` {name}: only {count} CUDA device(s) here")
    elif device.type != "cpu":
        raise UsageError(f"`device` must be auto, cpu, cuda or cuda:N, got {name!r}")
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


FULL_RES_BYTES = 160
"""Bytes per full-resolution pixel per frame: input, refiner, matte, background, output."""

MODEL_BYTES = 600
"""Bytes per pixel per frame in the model at downsample ratio 1 (scaled by ratio squared)."""

BUDGET_SHARE = 0.5
"""Share of the free memory one job may plan to use."""

GIB = 1 << 30


@dataclass(frozen=True)
class BatchPlan:
    """The batch size to use and, when it differs from the one asked for, why."""

    batch: int
    notice: str | None


def bytes_per_frame(height: int, width: int, ratio: float) -> int:
    """Estimated working memory for one frame of height x width at downsample ``ratio``."""
    return int(height * width * (FULL_RES_BYTES + MODEL_BYTES * ratio * ratio))


def free_memory(device: torch.device) -> int | None:
    """Bytes free on ``device`` now (GPU memory, or RAM available on Linux); None if unknown."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return None


def plan_batch(
    requested: int,
    height: int,
    width: int,
    ratio: float,
    free: int | None,
) -> BatchPlan:
    """The largest batch up to ``requested`` whose frames fit in a share of ``free`` bytes."""
    if free is None:
        return BatchPlan(requested, None)
    budget = int(free * BUDGET_SHARE)
    per_frame = bytes_per_frame(height, width, ratio)
    fitting = budget // per_frame
    if fitting >= requested:
        return BatchPlan(requested, None)
    size = f"{width}x{height} frames at downsample {ratio:.3g} need ~{per_frame / GIB:.1f} GiB each"
    if fitting < 1:
        return BatchPlan(
            1,
            f"warning: {size}, more than the {budget / GIB:.1f} GiB budget "
            f"(half the free memory); running one frame at a time may still run out of memory",
        )
    return BatchPlan(
        fitting,
        f"{size}: batch lowered from {requested} to {fitting} to stay within "
        f"{budget / GIB:.1f} GiB (half the free memory)",
    )


LARGE_SIDE = 2048
"""Frames with a longer side than this get a note on how the model sees them."""


def large_frame_notice(height: int, width: int, ratio: float, batch: int) -> str | None:
    """A note for frames above 2K: the downsample ratio and batch size chosen for them."""
    if max(height, width) <= LARGE_SIDE:
        return None
    return (
        f"large {width}x{height} frames: the model sees them at downsample {ratio:.3g} "
        f"({round(width * ratio)}x{round(height * ratio)}), {batch} per batch"
    )


LONG_INPUT_S = 120.0
"""Recordings longer than this, run through RVM on a CPU, get a note on the faster model."""

SELFIE_SPEEDUP = 2.4
"""End-to-end frames/s of ``model="selfie"`` over RVM's, 1080p to H.264 on two CPU cores
(bench/models.py; the README's Performance section)."""


def faster_model_notice(model: str, device: torch.device, duration_s: float | None) -> str | None:
    """A note for a long recording through RVM on a CPU: the selfie model is faster."""
    if model != "rvm" or device.type != "cpu" or (duration_s or 0.0) <= LONG_INPUT_S:
        return None
    return (
        f"a {duration_s / 60:.0f}-minute recording through rvm on the CPU: the selfie model "
        f"(--model selfie) is about {SELFIE_SPEEDUP:.1f}x faster, with coarser edges"
    )


_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_LARGEST = 2**31 - 1


@functools.cache
def keep_freed_memory() -> bool:
    """Tune glibc malloc once per process; True when it took effect."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_MMAP_THRESHOLD, _LARGEST) and mallopt(_M_TRIM_THRESHOLD, _LARGEST))
