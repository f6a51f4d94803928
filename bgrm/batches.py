"""Decoded frames grouped into batches for the model, a part's warm-up batches apart."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from bgrm.job import Part
from bgrm.media.decode import DecodedFrame, DecodeReport, read_frames
from bgrm.media.info import VideoInfo
from bgrm.media.planes import ModelInput


@dataclass
class Batch:
    """Consecutive decoded frames: uint8 [T, H, W, 3] and one pts each (input time base).

    ``warmup``: frames before a part's own, run through the model only to settle its state.
    ``small``: the model's input uint8 [T, h, w, 3] made by FFmpeg's scaler, or None (the
    model resizes the frames itself). ``planes``: the frames as the codec gave them, yuv420p
    uint8 [T, H * 3 / 2, W], where they stay in their planes (then ``rgb`` is None).
    """

    rgb: np.ndarray | None
    pts: list[int]
    warmup: bool = False
    small: np.ndarray | None = None
    planes: np.ndarray | None = None

    def frames(self, start: int, stop: int) -> Batch:
        """Frames ``start`` up to ``stop`` of this batch (a view, no copy)."""
        rgb, small, planes = (
            None if x is None else x[start:stop] for x in (self.rgb, self.small, self.planes)
        )
        return Batch(rgb, self.pts[start:stop], self.warmup, small, planes)


def decode_batches(
    info: VideoInfo,
    size: int,
    report: DecodeReport,
    part: Part | None = None,
    model: ModelInput | None = None,
    planes: bool = False,
) -> Iterator[Batch]:
    """Decoded frames grouped into batches of ``size`` (a batch may be shorter at the end and
    where a part's warm-up ends). Damage met on the way is counted in ``report``.

    With ``part``: its warm-up frames (as warm-up batches), then its own frames, and no more.
    With ``model``: each batch's ``small`` frames, made by FFmpeg's scaler; with ``planes``,
    the frames in their yuv420p planes instead of RGB.
    """
    taken: list[DecodedFrame] = []
    warming = False
    start = None
    if part is not None:
        start = part.start_pts if part.warmup_pts is None else part.warmup_pts
    frames = read_frames(
        info.path,
        size=(info.height, info.width),
        report=report,
        start_pts=start,
        model=model,
        planes=planes,
    )
    for frame in frames:
        warmup = part is not None and not part.owns(frame.pts)  # before its start, or after
        if warmup and part.end_pts is not None and frame.pts >= part.end_pts:
            break
        if taken and warmup != warming:
            yield _batch(taken, warming)
            taken = []
        warming = warmup
        taken.append(frame)
        if len(taken) == size:
            yield _batch(taken, warming)
            taken = []
    if taken:
        yield _batch(taken, warming)


def _batch(frames: list[DecodedFrame], warmup: bool) -> Batch:
    """Decoded frames stacked into one batch."""
    rgb, small, planes = (
        None if getattr(frames[0], kind) is None else np.stack([getattr(f, kind) for f in frames])
        for kind in ("rgb", "small", "planes")
    )
    return Batch(rgb, [frame.pts for frame in frames], warmup, small, planes)


def batches_of(rgb: np.ndarray, size: int) -> list[Batch]:
    """Frames already in memory, uint8 [N, H, W, 3], in batches of ``size``; pts = index."""
    return [
        Batch(rgb[i : i + size], list(range(i, min(i + size, len(rgb)))))
        for i in range(0, len(rgb), size)
    ]
