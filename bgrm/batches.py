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
    model resizes the frames itself).
    """

    rgb: np.ndarray
    pts: list[int]
    warmup: bool = False
    small: np.ndarray | None = None

    def frames(self, start: int, stop: int) -> Batch:
        """Frames ``start`` up to ``stop`` of this batch (a view, no copy)."""
        small = None if self.small is None else self.small[start:stop]
        return Batch(self.rgb[start:stop], self.pts[start:stop], self.warmup, small)


def decode_batches(
    info: VideoInfo,
    size: int,
    report: DecodeReport,
    part: Part | None = None,
    model: ModelInput | None = None,
) -> Iterator[Batch]:
    """Decoded frames grouped into batches of ``size`` (a batch may be shorter at the end and
    where a part's warm-up ends). Damage met on the way is counted in ``report``.

    With ``part``: its warm-up frames (as warm-up batches), then its own frames, and no more.
    With ``model``: each batch's ``small`` frames, made by FFmpeg's scaler.
    """
    taken: list[DecodedFrame] = []
    warming = False
    start = None
    if part is not None:
        start = part.start_pts if part.warmup_pts is None else part.warmup_pts
    frames = read_frames(
        info.path, size=(info.height, info.width), report=report, start_pts=start, model=model
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
    small = None if frames[0].small is None else np.stack([frame.small for frame in frames])
    rgb = np.stack([frame.rgb for frame in frames])
    return Batch(rgb, [frame.pts for frame in frames], warmup, small)


def batches_of(rgb: np.ndarray, size: int) -> list[Batch]:
    """Frames already in memory, uint8 [N, H, W, 3], in batches of ``size``; pts = index."""
    return [
        Batch(rgb[i : i + size], list(range(i, min(i + size, len(rgb)))))
        for i in range(0, len(rgb), size)
    ]
