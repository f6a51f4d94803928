"""Decoded frames grouped into batches for the model, a part's warm-up batches apart."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from bgrm.job import Part
from bgrm.media.decode import DecodeReport, read_frames
from bgrm.media.info import VideoInfo


@dataclass
class Batch:
    """Consecutive decoded frames: uint8 [T, H, W, 3] and one pts each (input time base).

    ``warmup``: frames before a part's own, run through the model only to settle its state.
    """

    rgb: np.ndarray
    pts: list[int]
    warmup: bool = False

    def frames(self, start: int, stop: int) -> Batch:
        """Frames ``start`` up to ``stop`` of this batch (a view, no copy)."""
        return Batch(self.rgb[start:stop], self.pts[start:stop], self.warmup)


def decode_batches(
    info: VideoInfo, size: int, report: DecodeReport, part: Part | None = None
) -> Iterator[Batch]:
    """Decoded frames grouped into batches of ``size`` (a batch may be shorter at the end and
    where a part's warm-up ends). Damage met on the way is counted in ``report``.

    With ``part``: its warm-up frames (as warm-up batches), then its own frames, and no more.
    """
    rgb: list[np.ndarray] = []
    pts: list[int] = []
    warming = False
    start = None
    if part is not None:
        start = part.start_pts if part.warmup_pts is None else part.warmup_pts
    frames = read_frames(info.path, size=(info.height, info.width), report=report, start_pts=start)
    for frame in frames:
        warmup = part is not None and not part.owns(frame.pts)  # before its start, or after
        if warmup and part.end_pts is not None and frame.pts >= part.end_pts:
            break
        if rgb and warmup != warming:
            yield Batch(np.stack(rgb), pts, warmup=warming)
            rgb, pts = [], []
        warming = warmup
        rgb.append(frame.rgb)
        pts.append(frame.pts)
        if len(rgb) == size:
            yield Batch(np.stack(rgb), pts, warmup=warming)
            rgb, pts = [], []
    if rgb:
        yield Batch(np.stack(rgb), pts, warmup=warming)


def batches_of(rgb: np.ndarray, size: int) -> list[Batch]:
    """Frames already in memory, uint8 [N, H, W, 3], in batches of ``size``; pts = index."""
    return [
        Batch(rgb[i : i + size], list(range(i, min(i + size, len(rgb)))))
        for i in range(0, len(rgb), size)
    ]
