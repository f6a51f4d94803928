"""What the library hands back: a job's Result, the frames of ``mattes``, and the callbacks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from bgrm.places import Place

ProgressCallback = Callable[[int, "int | None"], None]
"""on_progress(frames done, total or None): called after every batch."""

NoticeCallback = Callable[[str], None]
"""on_notice(line): something the user should know (a transcoded track, a damaged packet)."""


@dataclass(frozen=True)
class Shot:
    """One shot of the output: from one cut to the next.

    start, end: seconds from the input's first frame (end: where the next shot starts, or the
    end of the last frame). frames: how many. passed_through: no person was found in it, so
    its frames were written as recorded (opaque in alpha and matte outputs).
    """

    start: float
    end: float
    frames: int
    passed_through: bool


@dataclass(frozen=True)
class Result:
    """What ``process`` wrote: the output (file or PNG folder), the matte, how fast, and the
    shots found on the way (cut to cut)."""

    output: Place  # a local file (a path itself: open(), Path()), or an object in a bucket
    frames: int
    seconds: float
    notices: list[str] = field(default_factory=list)
    matte: Place | None = None
    shots: list[Shot] = field(default_factory=list)
    warmup_frames: int = 0  # a part's frames before its own, run only to settle the model

    @property
    def fps(self) -> float:
        """Frames written per second of the run."""
        return self.rate(self.frames, self.seconds)

    @staticmethod
    def rate(frames: int, seconds: float) -> float:
        """``frames`` per second over ``seconds`` (0.0 where no time passed): the one formula,
        for a Result and for progress reports alike."""
        return frames / seconds if seconds > 0 else 0.0


@dataclass(frozen=True)
class MatteFrame:
    """One frame from ``mattes``, upright, at the input's size.

    pts: the input's timestamp, in its time base; time: the same in seconds.
    image: uint8 [H, W, 3] RGB, the decoded frame. alpha: uint8 [H, W].
    foreground: uint8 [H, W, 3], the model's predicted colour of the person.
    """

    pts: int
    time: float
    image: np.ndarray
    alpha: np.ndarray
    foreground: np.ndarray
