"""Frames of a background video, picked by time and looped, decoded as they are needed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path

import numpy as np

from bgrm.errors import InputError
from bgrm.video.decode import read_frames
from bgrm.video.probe import probe


class BackgroundVideo:
    """The background frame shown at each time of the input, from a video at its own size.

    Time runs from the first frame of each file, so a 60 frames/s background behind a
    30 frames/s input plays at its own speed. When the background ends it starts again, and
    ``on_loop`` is called once. Only the current and the next frame are held.
    """

    def __init__(self, path: Path, on_loop: Callable[[float], None] = lambda seconds: None):
        self.path = Path(path)
        self._time_base = probe(self.path).time_base
        self._on_loop = on_loop
        self._timeline = self._play_forever()
        self._current = next(self._timeline)
        self._next = next(self._timeline)

    def frames_at(self, times_s: list[float]) -> np.ndarray:
        """Input times in seconds from its first frame, rising -> uint8 [T, h, w, 3]."""
        picked = []
        for time in times_s:
            while self._next[0] <= time:
                self._current, self._next = self._next, next(self._timeline)
            picked.append(self._current[1])
        return np.stack(picked)

    def _play_forever(self) -> Iterator[tuple[float, np.ndarray]]:
        """(seconds from the first frame, uint8 [h, w, 3]) for ever, the file played in a loop."""
        offset = 0.0
        for lap in count():
            if lap == 1:
                self._on_loop(offset)
            first_pts = None
            last, step = 0.0, 0.0
            for frame in read_frames(self.path):
                first_pts = frame.pts if first_pts is None else first_pts
                time = float((frame.pts - first_pts) * self._time_base)
                step = time - last if time > last else step
                last = time
                yield offset + time, frame.rgb
            if first_pts is None:
                raise InputError(f"no frames in the background video: {self.path}")
            offset += last + (step or 1 / 30)
