"""Read what a video file (or a still image) holds into a VideoInfo."""

from __future__ import annotations

import contextlib
import math
import os
import threading
from fractions import Fraction
from typing import BinaryIO

import av
import av.logging

from bgrm.errors import InputError
from bgrm.media.formats import (
    NAMES_OTHER_FILES,
    READ_DEMUXERS,
    READ_FORMATS,
    colour_of,
    is_still_image,
)
from bgrm.media.info import AudioTrack, VideoInfo
from bgrm.media.still import probe_still
from bgrm.places import Place

MIN_RATE = Fraction(1, 60)
"""Average frame rates below one frame a minute are taken for damage."""

MAX_READ_ERRORS_IN_A_ROW = 32
"""The demuxer failing this often without a packet in between means the rest is unreadable."""


def open_input(where: str | os.PathLike) -> av.container.InputContainer:
    """Open a local file or an object for reading, or raise InputError naming it. An object is
    decoded straight from ranged reads (Place.open): only the bytes PyAV asks for.

    Only the recording containers of formats.READ_DEMUXERS are read, and FFmpeg may open no
    other file or stream: a local file is read through FFmpeg's "file" protocol alone, an
    object through bgrm's own file object with no protocol at all. A playlist, a concat list
    or any other format is refused before FFmpeg reads its header.
    """
    path = Place.of(where)
    return _open(path.media(), path)


def _open(source: str | BinaryIO, path: Place) -> av.container.InputContainer:
    try:
        return _av_open(source)
    except PermissionError as error:
        raise InputError(f"cannot read the input (permission denied): {path}") from error
    except (av.FFmpegError, OSError, ValueError) as error:
        refused = _refused_format(source)
        if refused in NAMES_OTHER_FILES:
            raise InputError(
                f"{path}: a {refused} file names other files; bgrm reads recordings only"
            ) from None
        if refused is not None:
            raise InputError(
                f"{path}: a {refused} file is not a recording; bgrm reads {READ_FORMATS}"
            ) from None
        problem = "not a readable media file (damaged, incomplete or not a video)"
        raise InputError(f"{problem}: {path}") from error


def _av_open(source: str | BinaryIO) -> av.container.InputContainer:
    """av.open with the allow-lists: FFmpeg checks the format it detects against
    READ_DEMUXERS before the demuxer reads a byte of the header, and the protocols against
    "file" (a path) or nothing (a file object: only bgrm's own reads)."""
    if not isinstance(source, str):
        source.seek(0)
    options = {
        "format_whitelist": ",".join(READ_DEMUXERS),
        "protocol_whitelist": "file" if isinstance(source, str) else "",
    }
    return av.open(source, mode="r", metadata_errors="replace", container_options=options)


_NAMING = threading.Lock()


def _refused_format(source: str | BinaryIO) -> str | None:
    """FFmpeg's name of the format it detected in ``source`` and the allow-list refused; None
    when the open failed for another reason (damage).

    FFmpeg says the name only in its log, so the file is opened again (again refused before
    its header is read) with FFmpeg's errors caught, from every thread, for that moment: bgrm
    otherwise keeps FFmpeg's log off.
    """
    with _NAMING:
        level, skip = av.logging.get_level(), av.logging.get_skip_repeated()
        av.logging.set_level(av.logging.ERROR)
        av.logging.set_skip_repeated(False)  # the same refusal as the last one is said again
        try:
            with (
                av.logging.Capture(local=False) as logs,
                contextlib.suppress(av.FFmpegError, OSError, ValueError),
            ):
                _av_open(source).close()
        finally:
            av.logging.set_skip_repeated(skip)
            av.logging.set_level(level)
    for _, name, message in logs:
        if message.startswith("Format not on whitelist"):
            return name.split(",")[0]
    return None


def video_stream(container: av.container.InputContainer, path: Place) -> av.video.VideoStream:
    """The first video stream that is a moving picture (cover art is skipped)."""
    pictures = [
        stream
        for stream in container.streams.video
        if not stream.disposition & av.stream.Disposition.attached_pic
    ]
    for stream in pictures:
        if stream.codec_context is not None:
            return stream
    if pictures:
        raise InputError(f"no decoder for the video stream's codec (damaged file?): {path}")
    raise InputError(f"no video stream in: {path}")


def probe(where: str | os.PathLike) -> VideoInfo:
    """Describe the video at ``where`` (a path or a URL); InputError when it is missing or
    holds no video.

    ``width`` and ``height`` are the size as shown: for a phone video stored sideways with a
    display rotation, they are the upright size, which is what ``read_frames`` yields.
    """
    path = Place.of(where)
    if is_still_image(path):
        return probe_still(path)
    with open_input(path) as container:
        stream = video_stream(container, path)
        context = stream.codec_context
        width, height = context.width, context.height
        first = _first_frame(container, stream)
        rotation = 0
        start_pts = None
        pix_fmt = context.pix_fmt or ""
        colour = colour_of(
            context.colorspace,
            context.color_primaries,
            context.color_trc,
            context.color_range,
            height,
            context.pix_fmt or "yuv420p",
        )
        if first is not None:
            start_pts = first.pts
            width, height = first.width, first.height
            rotation = quarter_turns(first.rotation)
            pix_fmt = first.format.name
            colour = colour_of(
                first.colorspace,
                first.color_primaries,
                first.color_trc,
                first.color_range,
                first.height,
                first.format.name,
            )
        if width <= 0 or height <= 0:
            raise InputError(f"the video stream has no picture size (damaged file?): {path}")
        aspect = Fraction(context.sample_aspect_ratio or stream.sample_aspect_ratio or 1)
        if rotation in (90, 270):
            width, height = height, width
            aspect = 1 / aspect
        time_base = stream.time_base or Fraction(1, 90000)
        return VideoInfo(
            path=path,
            width=width,
            height=height,
            time_base=time_base,
            average_rate=_plausible_rate(stream.average_rate, time_base),
            frame_count=stream.frames or None,
            duration_s=_duration_s(container, stream, time_base),
            codec=stream.codec_context.name,
            audio=tuple(_audio_track(s) for s in container.streams.audio),
            rotation=rotation,
            start_pts=start_pts,
            colour=colour,
            sample_aspect=aspect if aspect > 0 else Fraction(1),
            pix_fmt=pix_fmt,
        )


def quarter_turns(degrees: float) -> int:
    """A display rotation in degrees (any sign) -> 0, 90, 180 or 270, counter-clockwise."""
    if not math.isfinite(degrees):  # a damaged display matrix
        return 0
    return (round(degrees / 90) % 4) * 90


def _first_frame(container, stream, max_packets: int = 64) -> av.VideoFrame | None:
    """The first frame that decodes within ``max_packets`` packets, else None.

    FFmpeg hands a container's display matrix to every decoded frame, so this frame tells the
    rotation, and its size is the size the decoder really produces.
    """
    try:
        for index, packet in enumerate(container.demux(stream)):
            if index >= max_packets:
                break
            try:
                frames = stream.decode(packet)
            except av.FFmpegError:
                continue
            if frames:
                return frames[0]
    except av.FFmpegError:
        pass
    return None


def _plausible_rate(rate: Fraction | None, time_base: Fraction) -> Fraction | None:
    """The stream's average frame rate, or None when it is missing or impossible.

    A frame interval shorter than one tick of the time base cannot be real (a damaged or
    badly remuxed header), nor can one longer than a minute be the average of real video;
    encoders given such a rate fail, so it is ignored (frames keep their own timestamps).
    """
    if not rate or rate < MIN_RATE or rate * time_base > 1:
        return None
    return Fraction(rate)


def _duration_s(container, stream, time_base: Fraction) -> float | None:
    if stream.duration:
        return float(stream.duration * time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def _audio_track(stream) -> AudioTrack:
    language = stream.metadata.get("language")
    context = stream.codec_context
    return AudioTrack(
        index=stream.index,
        codec=context.name if context else "unknown",
        sample_rate=context.sample_rate if context else 0,
        channels=context.channels if context else 0,
        language=None if language in (None, "", "und") else language,
    )
