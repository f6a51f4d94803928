"""Fit the batch size to the memory there is, so large frames (4K, 8K) do not run out of it.

Working memory grows with batch * H * W. Measured on CPU in float32 with peak RSS (model,
refiner, background and compositing, one batch in flight):
1080p at ratio 0.27: 177 B per pixel per frame; at 0.5: 279; at 1.0: 740; 4K at 0.13: 135.
That fits ``FULL_RES_BYTES + MODEL_BYTES * ratio**2`` per pixel per frame, which adds the
uint8 frames queued between the stages.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

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
