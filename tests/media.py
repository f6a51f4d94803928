"""Helpers that make real media files for the tests: synthetic clips and the fetched samples."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from samples.fetch import add_tone_track, fetch_samples, write_tone

CACHE = Path(__file__).parent / ".cache"


def sample_clips(tmp_dir: Path | None = None) -> dict[str, Path]:
    """The real sample files (talk.mp4, background.jpg, bikes.mp4), downloaded once per machine.

    ``tmp_dir`` is unused by the cache; it is accepted so callers can pass their temp folder.
    """
    del tmp_dir
    return fetch_samples(CACHE)


def make_clip(
    path: Path,
    *,
    size: tuple[int, int] = (64, 48),
    frames: int = 30,
    rate: Fraction = Fraction(30000, 1001),
    vfr_pts: list[int] | None = None,
    audio: bool | str = True,
    codec: str = "libx264",
) -> Path:
    """Write a clip of a moving pattern, ``size`` = (width, height), with optional audio.

    The video time base is 1/rate.numerator, so frame i sits at i * rate.denominator unless
    ``vfr_pts`` gives every pts. ``audio`` is True (AAC, or Opus in .webm), False, or an
    encoder name; it is a mono 48 kHz tone as long as the video.
    """
    path = Path(path)
    time_base = Fraction(1, rate.numerator)
    pts_list = vfr_pts if vfr_pts is not None else [i * rate.denominator for i in range(frames)]
    width, height = size
    with av.open(str(path), mode="w") as container:
        video = container.add_stream(codec, rate=rate)
        video.width, video.height = width, height
        video.pix_fmt = "yuv420p"
        video.codec_context.time_base = time_base
        video.time_base = time_base
        sound = _add_audio(container, path, audio)
        samples_done = 0
        for index, pts in enumerate(pts_list):
            frame = av.VideoFrame.from_ndarray(_pattern(width, height, index), format="rgb24")
            frame.pts, frame.time_base = pts, time_base
            container.mux(video.encode(frame))
            if sound is not None:
                samples_done = write_tone(container, sound, samples_done, pts * time_base)
        end = pts_list[-1] * time_base + Fraction(rate.denominator, rate.numerator)
        container.mux(video.encode(None))
        if sound is not None:
            write_tone(container, sound, samples_done, end)
            container.mux(sound.encode(None))
    return path


def _pattern(width: int, height: int, index: int) -> np.ndarray:
    """Soft light-and-shade waves with a mild tint, sliding a few pixels each frame."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    shade = 127 + 60 * np.sin((x + 2 * index) / 6) + 40 * np.cos((y - index) / 5)
    tint = 15 * np.sin((x + y) / 20)
    return np.clip(np.stack([shade + tint, shade, shade - tint], axis=-1), 0, 255).astype(np.uint8)


def _add_audio(container, path: Path, audio: bool | str):
    if audio is False:
        return None
    if audio is True:
        audio = "libopus" if path.suffix == ".webm" else "aac"
    return add_tone_track(container, audio)


def loop_clip(source: Path, target: Path, times: int) -> Path:
    """``source``'s video played ``times`` times in a row (no audio), H.264 at its frame rate."""
    with av.open(str(source)) as inp:
        stream = inp.streams.video[0]
        rate = stream.average_rate
        frames = [f.to_ndarray(format="rgb24") for f in inp.decode(stream)]
    with av.open(str(target), "w") as out:
        video = out.add_stream("libx264", rate=rate)
        video.height, video.width = frames[0].shape[:2]
        video.pix_fmt = "yuv420p"
        video.options = {"preset": "ultrafast"}
        for index in range(len(frames) * times):
            frame = av.VideoFrame.from_ndarray(frames[index % len(frames)], format="rgb24")
            frame.pts = index
            frame.time_base = 1 / rate
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    return Path(target)
