"""What a video holds, as bgrm reads it: size, timing, colour, aspect and audio tracks."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from bgrm.media.formats import Colour
from bgrm.places import Place


@dataclass(frozen=True)
class AudioTrack:
    """One audio stream of the input; ``index`` is its stream index in the file."""

    index: int
    codec: str
    sample_rate: int
    channels: int
    language: str | None


@dataclass(frozen=True)
class VideoInfo:
    """The first video stream of a file, and the audio streams beside it."""

    path: Place  # a local file, or an object in a bucket
    width: int
    height: int
    time_base: Fraction
    average_rate: Fraction | None
    frame_count: int | None
    duration_s: float | None
    codec: str
    audio: tuple[AudioTrack, ...]
    rotation: int = 0  # degrees counter-clockwise the stored picture is turned to be shown
    start_pts: int | None = None  # the first frame's pts (in time_base), when it has one
    colour: Colour = Colour(1, 1, 1, 1)  # the input's, blanks filled (formats.colour_of)
    sample_aspect: Fraction = Fraction(1)  # width of a pixel / its height, as shown (upright)
    still: bool = False  # a still image (one frame, no time)
    pix_fmt: str = ""  # the decoded frames' pixel format (FFmpeg's name), "" when unknown

    @property
    def start_s(self) -> float:
        """The first frame's time in seconds (0 when unknown)."""
        return float(self.start_pts * self.time_base) if self.start_pts is not None else 0.0

    @property
    def expected_frames(self) -> int | None:
        """Frame count from the header, else estimated from duration and rate (for progress)."""
        if self.frame_count:
            return self.frame_count
        if self.duration_s and self.average_rate:
            return round(self.duration_s * self.average_rate)
        return None
