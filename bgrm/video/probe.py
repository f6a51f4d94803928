"""Read what a video file holds: size, timing, codec and audio tracks."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from bgrm.errors import InputError


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

    path: Path
    width: int
    height: int
    time_base: Fraction
    average_rate: Fraction | None
    frame_count: int | None
    duration_s: float | None
    codec: str
    audio: tuple[AudioTrack, ...]

    @property
    def expected_frames(self) -> int | None:
        """Frame count from the header, else estimated from duration and rate (for progress)."""
        if self.frame_count:
            return self.frame_count
        if self.duration_s and self.average_rate:
            return round(self.duration_s * self.average_rate)
        return None


def open_input(path: Path) -> av.container.InputContainer:
    """Open ``path`` for reading, or raise InputError naming it."""
    if not path.exists():
        raise InputError(f"input file not found: {path}")
    if path.is_dir():
        raise InputError(f"input is a folder, not a video file: {path}")
    try:
        return av.open(str(path), mode="r")
    except (av.FFmpegError, OSError) as error:
        raise InputError(f"not a readable media file: {path}") from error


def probe(path: Path) -> VideoInfo:
    """Describe the video at ``path``; InputError when it is missing or holds no video."""
    path = Path(path)
    with open_input(path) as container:
        if not container.streams.video:
            raise InputError(f"no video stream in: {path}")
        stream = container.streams.video[0]
        time_base = stream.time_base or Fraction(1, 90000)
        return VideoInfo(
            path=path,
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            time_base=time_base,
            average_rate=stream.average_rate or None,
            frame_count=stream.frames or None,
            duration_s=_duration_s(container, stream, time_base),
            codec=stream.codec_context.name,
            audio=tuple(_audio_track(s) for s in container.streams.audio),
        )


def _duration_s(container, stream, time_base: Fraction) -> float | None:
    if stream.duration:
        return float(stream.duration * time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def _audio_track(stream) -> AudioTrack:
    language = stream.metadata.get("language")
    return AudioTrack(
        index=stream.index,
        codec=stream.codec_context.name,
        sample_rate=stream.codec_context.sample_rate,
        channels=stream.codec_context.channels,
        language=None if language in (None, "", "und") else language,
    )
