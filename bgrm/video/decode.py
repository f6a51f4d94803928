"""Decode the first video stream to RGB frames that keep their own timestamps."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from bgrm.errors import InputError
from bgrm.video.probe import open_input


@dataclass
class DecodedFrame:
    """One picture: ``rgb`` uint8 [H, W, 3], ``pts`` in the stream's time base."""

    rgb: np.ndarray
    pts: int


def read_frames(path: Path) -> Iterator[DecodedFrame]:
    """Yield every frame of the first video stream in presentation order (threaded decode)."""
    path = Path(path)
    with open_input(path) as container:
        if not container.streams.video:
            raise InputError(f"no video stream in: {path}")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        step = _frame_step(stream)
        last_pts: int | None = None
        try:
            for frame in container.decode(stream):
                pts = _pts_of(frame, last_pts, step)
                last_pts = pts
                rgb = np.ascontiguousarray(frame.to_ndarray(format="rgb24"))
                yield DecodedFrame(rgb=rgb, pts=pts)
        except av.FFmpegError as error:
            raise InputError(f"cannot decode the video (damaged file?): {path}") from error


def _frame_step(stream) -> int:
    """One frame's length in time-base units, from the average rate (1 when unknown)."""
    rate = stream.average_rate or stream.guessed_rate
    if not rate or not stream.time_base:
        return 1
    return max(1, round(1 / (Fraction(rate) * stream.time_base)))


def _pts_of(frame: av.VideoFrame, last_pts: int | None, step: int) -> int:
    if frame.pts is not None:
        return frame.pts
    if last_pts is None:
        return 0
    return last_pts + (frame.duration or step)
