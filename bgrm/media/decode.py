"""Decode the first video stream to upright RGB frames that keep their own timestamps.

Damage does not stop the job: a packet the decoder rejects is skipped, a stretch the demuxer
cannot read is stepped over, and what was lost is counted in a ``DecodeReport`` so the caller
can say so. Only a file with no decodable frame at all is an error.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from bgrm.errors import InputError
from bgrm.media.formats import Colour, colour_of, is_still_image
from bgrm.media.planes import ModelInput, keeps_planes, planes_of, scaled_rgb
from bgrm.media.probe import (
    MAX_READ_ERRORS_IN_A_ROW,
    VideoInfo,
    open_input,
    quarter_turns,
    video_stream,
)
from bgrm.media.still import read_still
from bgrm.places import Place


@dataclass
class DecodedFrame:
    """One picture: ``rgb`` uint8 [H, W, 3], upright (a view when turned), or ``planes``, its
    yuv420p planes uint8 [H * 3 / 2, W] where they were asked for instead; ``pts`` in the
    stream's time base; ``small``: the model's input uint8 [h, w, 3], upright, when asked."""

    rgb: np.ndarray | None
    pts: int
    small: np.ndarray | None = None
    planes: np.ndarray | None = None


@dataclass
class DecodeReport:
    """What decoding met: frames yielded and every kind of damage stepped over."""

    frames: int = 0
    bad_packets: int = 0  # packets the decoder rejected
    read_errors: int = 0  # demuxer errors (unreadable container data)
    gave_up_reading: bool = False  # the demuxer kept failing; the rest of the file was dropped
    bad_frames: int = 0  # decoded frames that could not be converted to RGB
    resized_frames: int = 0  # frames of another size, scaled to the video's size
    retimed_frames: int = 0  # frames whose pts did not increase, given the next free one
    first_s: float = 0.0  # presentation time of the first frame yielded, in seconds
    last_s: float = 0.0  # and of the last one

    def warnings(self, info: VideoInfo, *, whole_file: bool = True) -> list[str]:
        """One line per kind of damage met, naming how much was lost (empty when none).

        Frames missing against the header are counted only when the whole file was read.
        """
        path = info.path
        lines = []
        if self.bad_packets:
            lines.append(f"skipped {self.bad_packets} damaged video packets: {path}")
        if self.read_errors:
            rest = "; gave up on the rest of the file" if self.gave_up_reading else ""
            lines.append(f"skipped {self.read_errors} unreadable stretches{rest}: {path}")
        if self.bad_frames:
            lines.append(f"skipped {self.bad_frames} frames that could not be converted: {path}")
        if self.resized_frames:
            lines.append(
                f"scaled {self.resized_frames} frames of another size to "
                f"{info.width}x{info.height}: {path}"
            )
        if self.retimed_frames:
            lines.append(
                f"gave {self.retimed_frames} frames with out-of-order timestamps new ones: {path}"
            )
        missing = self.missing_frames(info) if whole_file else 0
        if missing and info.frame_count:
            lines.append(
                f"decoded {self.frames} of {info.frame_count} frames the header announces "
                f"({missing} missing: truncated or damaged file): {path}"
            )
        elif missing:
            lines.append(
                f"decoded {self.frames} frames, about {missing} fewer than the header's "
                f"duration of {info.duration_s:.2f} s holds (truncated or damaged file): {path}"
            )
        return [f"warning: {line}" for line in lines]

    def missing_frames(self, info: VideoInfo) -> int:
        """Frames the header announces beyond those decoded (0 when within its precision).

        An exact frame count in the header must match. Without one, the header's duration is
        compared with the time the decoded frames cover, at their own mean frame interval;
        as that duration may include a longer audio track, one second (or 2%) is allowed.
        """
        if info.frame_count:
            return max(0, info.frame_count - self.frames)
        if not info.duration_s or self.frames < 2:
            return 0
        interval = (self.last_s - self.first_s) / (self.frames - 1)
        if interval <= 0:
            return 0
        covered = self.last_s - self.first_s + interval
        missing = round((info.duration_s - covered) / interval)
        slack = max(round(1 / interval), round(0.02 * (self.frames + missing)))
        return missing if missing > slack else 0


def read_frames(
    path: str | os.PathLike,
    *,
    size: tuple[int, int] | None = None,
    report: DecodeReport | None = None,
    start_pts: int | None = None,
    model: ModelInput | None = None,
    planes: bool = False,
) -> Iterator[DecodedFrame]:
    """Yield every decodable frame of the video in presentation order, upright (threaded decode).

    ``size`` = (height, width) of the frames yielded (a frame of another size is scaled to it);
    by default the first frame's upright size. ``start_pts``: begin at the first frame shown at
    or after it, decoding from the keyframe before it (from the start when the file cannot
    seek there). ``model``: each frame's ``small`` is made at its size by FFmpeg's scaler.
    ``planes``: each frame's 4:2:0 planes instead of RGB (for a video shown as stored, of even
    size: media/planes.py ``keeps_planes``). Raises InputError when no frame decodes (from
    the start).
    """
    path = Place.of(path)
    report = report if report is not None else DecodeReport()
    if is_still_image(path):
        yield from _still(path, report, model)
        return
    with open_input(path) as container:
        stream = video_stream(container, path)
        stream.thread_type = "AUTO"
        step = _frame_step(stream)
        turns: int | None = None
        colour: Colour | None = None
        last_pts: int | None = None
        for frame in _from(container, stream, report, start_pts):
            if turns is None:
                turns = quarter_turns(frame.rotation) // 90
                size = size or _turned((frame.height, frame.width), turns)
                colour = colour_of(
                    frame.colorspace,
                    frame.color_primaries,
                    frame.color_trc,
                    frame.color_range,
                    frame.height,
                    frame.format.name,
                )
            pts = _pts_of(frame, last_pts, step)
            if start_pts is not None and pts < start_pts:
                continue
            if planes:
                picture = _to_planes(frame, size, colour, report)
            else:
                picture = _to_rgb(frame, _turned(size, turns), colour, report)
            small = None
            if picture is not None and model is not None:
                small = _to_small(frame, _turned(model.size, turns), model, colour, report)
            if picture is None or (model is not None and small is None):
                continue
            if last_pts is not None and pts <= last_pts:
                pts = last_pts + 1
                report.retimed_frames += 1
            last_pts = pts
            report.last_s = float(pts * stream.time_base)
            if report.frames == 0:
                report.first_s = report.last_s
            report.frames += 1
            # Views: the batch's np.stack makes the one copy, also for rotated frames.
            small = None if small is None else np.rot90(small, turns)
            if planes:  # shown as stored: never turned
                yield DecodedFrame(rgb=None, pts=pts, small=small, planes=picture)
            else:
                yield DecodedFrame(rgb=np.rot90(picture, turns), pts=pts, small=small)
    if report.frames == 0 and start_pts is None:
        raise InputError(f"no video frame could be decoded (empty or damaged file): {path}")


def _from(
    container, stream, report: DecodeReport, start_pts: int | None
) -> Iterator[av.VideoFrame]:
    """The decoded frames from the keyframe before ``start_pts`` (all of them when None).

    A seek that lands after ``start_pts`` (a sparse or damaged index) would lose frames: then
    the file is decoded from its start instead.
    """
    if start_pts is None:
        yield from _decoded(container, stream, report)
        return
    try:
        container.seek(start_pts, stream=stream, backward=True, any_frame=False)
    except (av.FFmpegError, OSError):
        yield from _decoded(container, stream, report)
        return
    frames = _decoded(container, stream, report)
    first = next(frames, None)
    if first is not None and first.pts is not None and first.pts > start_pts:
        frames.close()
        container.seek(0, stream=stream, backward=True, any_frame=False)
        yield from _decoded(container, stream, report)
        return
    if first is not None:
        yield first
    yield from frames


def _decoded(container, stream, report: DecodeReport) -> Iterator[av.VideoFrame]:
    """Every frame the decoder gives, packet by packet; damage is counted and stepped over."""
    errors_in_a_row = 0
    while True:
        try:
            for packet in container.demux(stream):
                errors_in_a_row = 0
                try:
                    frames = stream.decode(packet)
                except av.FFmpegError:
                    report.bad_packets += 1
                    continue
                yield from frames
            return  # the demuxer reached the end and the decoder is flushed
        except av.FFmpegError:
            report.read_errors += 1
            errors_in_a_row += 1
            if errors_in_a_row >= MAX_READ_ERRORS_IN_A_ROW:
                report.gave_up_reading = True
                break
    try:
        yield from stream.decode(None)
    except av.FFmpegError:
        report.bad_packets += 1


def _turned(size: tuple[int, int], turns: int) -> tuple[int, int]:
    """(height, width) after ``turns`` quarter turns."""
    return (size[1], size[0]) if turns % 2 else size


def _still(path: Place, report: DecodeReport, model: ModelInput | None) -> Iterator[DecodedFrame]:
    """A still image's one frame; its ``small`` (when asked) by the same scaler as a video's."""
    for rgb, pts in read_still(path):
        report.frames += 1
        small = None
        if model is not None:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            height, width = model.size
            small = frame.to_ndarray(
                format="rgb24", width=width, height=height, interpolation=model.filter
            )
        yield DecodedFrame(rgb=rgb, pts=pts, small=small)


def _to_rgb(
    frame: av.VideoFrame, stored_size: tuple[int, int], colour: Colour, report: DecodeReport
) -> np.ndarray | None:
    """uint8 [H, W, 3] at ``stored_size`` (height, width, before rotation), converted with the
    video's own matrix and range; None if impossible."""
    height, width = stored_size
    how = {"src_colorspace": colour.sws_matrix, "src_color_range": colour.range}
    try:
        if (frame.height, frame.width) == stored_size:
            return frame.to_ndarray(format="rgb24", **how)
        rgb = frame.to_ndarray(format="rgb24", width=width, height=height, **how)
    except (av.FFmpegError, ValueError):
        report.bad_frames += 1
        return None
    report.resized_frames += 1
    return rgb


def _to_small(
    frame: av.VideoFrame,
    stored_size: tuple[int, int],
    model: ModelInput,
    colour: Colour,
    report: DecodeReport,
) -> np.ndarray | None:
    """The model's input uint8 [h, w, 3] at ``stored_size`` (before rotation), by FFmpeg's
    scaler; None if impossible."""
    try:
        return scaled_rgb(frame, stored_size, colour, model.filter)
    except (av.FFmpegError, ValueError):
        report.bad_frames += 1
        return None


def _to_planes(
    frame: av.VideoFrame, size: tuple[int, int], colour: Colour, report: DecodeReport
) -> np.ndarray | None:
    """The frame's 4:2:0 planes uint8 [H * 3 / 2, W] at ``size`` (height, width): as decoded,
    or scaled (another size) or converted (another format) in the video's matrix and range;
    None if impossible."""
    height, width = size
    if (frame.height, frame.width) == size and keeps_planes(frame.format.name, *size, 0):
        return planes_of(frame)
    try:
        converted = frame.reformat(
            width=width,
            height=height,
            format="yuv420p",
            src_colorspace=colour.sws_matrix,
            dst_colorspace=colour.sws_matrix,
            src_color_range=colour.range,
            dst_color_range=colour.range,
        )
    except (av.FFmpegError, ValueError):
        report.bad_frames += 1
        return None
    if (frame.height, frame.width) != size:
        report.resized_frames += 1
    return planes_of(converted)


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
