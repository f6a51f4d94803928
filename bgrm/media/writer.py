"""Encode uint8 frames (RGB, RGBA or gray) to one video stream, with or without the input's audio.

One writer for every video output; an ``Encoding`` from bgrm/media/formats.py says how.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import numpy as np

from bgrm.errors import EnvironmentProblem, InputError, OutputError
from bgrm.media.display import write_display_size
from bgrm.media.formats import CHANNELS, ENCODER_ENVIRONMENT, Encoding
from bgrm.media.probe import VideoInfo, open_input
from bgrm.media.scheduling import normal_scheduling
from bgrm.media.tracks import AudioMuxer
from bgrm.places import Place


class _Container:
    """An output file with one video stream and, if asked, the input's audio and subtitles.

    Video packets are muxed as they come; the input's other tracks are muxed alongside up to
    the video's time, so the file is interleaved. The finished file's header gets the display
    size of the input's pixel aspect (bgrm/media/display.py). Write errors become one line
    (WriteError for the disk, InputError for a damaged track copied from the input).
    """

    def __init__(
        self,
        path: Path,
        info: VideoInfo,
        encoding: Encoding,
        add_video: Callable[[av.container.OutputContainer], av.video.VideoStream],
        on_notice: Callable[[str], None],
    ) -> None:
        self.path = Path(path)
        self._info = info
        self._muxer = encoding.container
        self._on_notice = on_notice
        if not self.path.parent.is_dir():
            raise OutputError(f"the output folder does not exist: {self.path}")
        try:
            self._output = av.open(
                str(self.path),
                mode="w",
                format=encoding.container,
                options=dict(encoding.muxer_options),
            )
        except OSError as error:
            raise _output_error(error, self.path) from error
        self._audio: AudioMuxer | None = None
        try:
            self.stream = add_video(self._output)
            self._size = (self.stream.codec_context.width, self.stream.codec_context.height)
            for key, value in encoding.stream_metadata.items():
                self.stream.metadata[key] = value
            if encoding.audio is not None:
                self._audio = AudioMuxer(
                    info.path, self._output, encoding.audio, on_notice, info.start_s
                )
        except BaseException:
            self._output.close()
            raise

    def mux(self, packets: list[av.Packet]) -> None:
        """Mux video packets (in decode order), then the other tracks up to their time."""
        with self._errors():
            for packet in packets:
                packet.stream = self.stream
                self._output.mux(packet)
                if self._audio is not None and packet.dts is not None:
                    self._audio.advance_to(float(packet.dts * packet.time_base))

    def close(self) -> None:
        """Mux the rest of the other tracks, finish the file and declare its display size."""
        with self._errors():
            if self._audio is not None:
                self._audio.finish()
            self._output.close()
            aspect = self._info.sample_aspect
            if not write_display_size(self.path, self._muxer, *self._size, aspect):
                self._on_notice(
                    f"the pixel aspect {aspect.numerator}:{aspect.denominator} could not be "
                    f"written as the display size in {self.path.name}'s header"
                )

    def abort(self) -> None:
        """Close everything and ignore errors; the caller deletes the file."""
        steps = [self._output.close]
        if self._audio is not None:
            steps.insert(0, self._audio.close)
        for step in steps:
            with contextlib.suppress(av.FFmpegError, OSError):
                step()

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn a failing write into one line: WriteError for the disk (full, gone), InputError
        when the muxer rejects what was copied from the input (a damaged track header)."""
        try:
            yield
        except OSError as error:
            raise _output_error(error, self.path) from error
        except av.FFmpegError as error:
            if self._audio is None:
                raise
            detail = error.log[2].strip() if error.log else error.strerror
            raise InputError(
                f"the output cannot be finished: a track copied from the input is damaged "
                f"({detail}): {self._info.path}"
            ) from error


class FrameWriter:
    """Write uint8 frames with their input pts (and the input's audio, if asked) to ``path``.

    The video stream keeps ``info.time_base``, so every pts is written as given (containers
    with a fixed time base, Matroska and WebM, round it to a millisecond). An odd size that
    the encoding cannot take is padded by one row or column of edge pixels, with a notice.

    ``global_header``: packets encoded elsewhere will be copied in (``copy``), and this is
    their encoder's global header (SPS/PPS, as their file stored it): the file declares it in
    place of this encoder's, which is opened for everything else it declares.
    """

    def __init__(
        self,
        path: Path,
        info: VideoInfo,
        encoding: Encoding,
        on_notice: Callable[[str], None] = lambda message: None,
        global_header: bytes | None = None,
    ) -> None:
        self._info = info
        self._encoding = encoding
        if encoding.codec not in av.codecs_available:
            raise EnvironmentProblem(f"this FFmpeg build lacks the {encoding.codec} encoder")
        for name, value in ENCODER_ENVIRONMENT.get(encoding.codec, {}).items():
            os.environ.setdefault(name, value)
        self._pad = _padding(info, encoding)
        if any(self._pad):
            on_notice(
                f"video size {info.width}x{info.height} is odd, padded to "
                f"{info.width + self._pad[1]}x{info.height + self._pad[0]} for "
                f"{encoding.codec} (edge pixels repeated)"
            )
        self._file = _Container(path, info, encoding, self._add_video_stream, on_notice)
        if global_header is not None:
            try:
                with normal_scheduling():
                    self._file.stream.codec_context.open()
            except BaseException:
                self._file.abort()
                raise
            self._file.stream.codec_context.extradata = global_header

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()

    def write(self, pixels: np.ndarray, pts: int) -> None:
        """Encode one uint8 [H, W, C] (or [H, W] gray) frame shown at ``pts``; an RGB output
        encoded as yuv420p also takes the frame as yuv420p planes [H * 3 / 2, W], in the
        video's matrix and range (passed to the encoder as they are)."""
        if pixels.ndim == 2 and self._encoding.pixels == "rgb24":
            self._write_planes(pixels, pts)
            return
        channels = CHANNELS[self._encoding.pixels]
        if channels == 1 and pixels.ndim == 3:
            pixels = pixels[..., 0]
        size = (self._info.height, self._info.width)
        if pixels.shape != (size if channels == 1 else (*size, channels)):
            raise ValueError(f"frame shape {pixels.shape} does not match the video size")
        if any(self._pad):
            pad = ((0, self._pad[0]), (0, self._pad[1])) + ((0, 0),) * (pixels.ndim - 2)
            pixels = np.pad(pixels, pad, mode="edge")
        frame = av.VideoFrame.from_ndarray(
            np.ascontiguousarray(pixels), format=self._encoding.pixels
        )
        if self._encoding.pix_fmt != self._encoding.pixels:
            colour = self._info.colour
            frame = frame.reformat(  # tagged too: some encoders (ProRes) write the frame's
                format=self._encoding.pix_fmt,
                dst_colorspace=colour.sws_matrix,
                dst_color_range=colour.range,
                dst_color_primaries=colour.primaries,
                dst_color_trc=colour.transfer,
            )
        frame.pts = pts
        frame.time_base = self._info.time_base
        self._file.mux(self._encode(frame))

    def _write_planes(self, planes: np.ndarray, pts: int) -> None:
        """Encode one frame of yuv420p planes uint8 [H * 3 / 2, W] (even sides) at ``pts``."""
        if self._encoding.pix_fmt != "yuv420p" or any(self._pad):
            raise ValueError(f"{self._encoding.pix_fmt} output of odd size takes no yuv420p planes")
        if planes.shape != (self._info.height * 3 // 2, self._info.width):
            raise ValueError(f"planes of shape {planes.shape} do not match the video size")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(planes), format="yuv420p")
        colour = self._info.colour
        frame.colorspace = colour.matrix
        frame.color_range = colour.range
        frame.pts = pts
        frame.time_base = self._info.time_base
        self._file.mux(self._encode(frame))

    def copy(self, packet: av.Packet) -> None:
        """Mux a packet that an encoder with this writer's encoding made elsewhere (a part of a
        split job), as it is; its timestamps are in its own time base."""
        self._file.mux([packet])

    def close(self) -> None:
        """Flush the encoder, mux the rest of the audio and finish the file."""
        self._file.mux(self._encode(None))
        self._file.close()

    def abort(self) -> None:
        """Close everything and ignore errors; the caller deletes the file."""
        self._file.abort()

    def _encode(self, frame: av.VideoFrame | None) -> list[av.Packet]:
        stream = self._file.stream
        try:
            if stream.codec_context.is_open:
                return stream.encode(frame)
            with normal_scheduling():  # the encoder opens with its first frame
                return stream.encode(frame)
        except OSError as error:
            raise _output_error(error, self._file.path) from error

    def _add_video_stream(self, output: av.container.OutputContainer) -> av.video.VideoStream:
        encoding = self._encoding
        stream = output.add_stream(encoding.codec, options=dict(encoding.codec_options))
        context = stream.codec_context
        context.width = self._info.width + self._pad[1]
        context.height = self._info.height + self._pad[0]
        context.pix_fmt = encoding.pix_fmt
        context.time_base = self._info.time_base
        stream.time_base = self._info.time_base
        if self._info.average_rate:
            context.framerate = self._info.average_rate
        if self._info.sample_aspect != 1:
            context.sample_aspect_ratio = self._info.sample_aspect
        if encoding.codec_tag:
            context.codec_tag = encoding.codec_tag
        if encoding.pix_fmt != "gray":  # the input's description, in the bitstream and container
            colour = self._info.colour
            context.colorspace = colour.matrix
            context.color_primaries = colour.primaries
            context.color_trc = colour.transfer
            context.color_range = colour.range
        return stream


def join_videos(
    parts: list[Place],
    path: Path,
    info: VideoInfo,
    encoding: Encoding,
    on_notice: Callable[[str], None] = lambda message: None,
) -> None:
    """Write to ``path`` the video of every file in ``parts``, in order, packet for packet (no
    re-encoding), with the input's audio and subtitles muxed once alongside (as ``encoding``
    says). The parts were encoded with ``encoding``, each from a keyframe.

    The stream is declared as one pass declares it (FrameWriter's, whose encoder is opened for
    that and never fed a frame: codec tag, profile, pixel format, colour, aspect), with the
    parts' own global header; not as a demuxer reads a part back. Each part's encoder chose its
    first decode times on its own; where B-frames make one fall on or before the previous
    part's last, it is moved just after it (never past its own presentation time), so decode
    times keep rising across the joins.
    """
    with open_input(parts[0]) as first:
        header = first.streams.video[0].codec_context.extradata
    writer = FrameWriter(path, info, encoding, on_notice, global_header=header or b"")
    try:
        last_dts: int | None = None
        for part in parts:
            with open_input(part) as source:
                for packet in source.demux(source.streams.video[0]):
                    if not packet.size:
                        continue
                    dts = packet.dts if packet.dts is not None else packet.pts
                    if last_dts is not None and dts <= last_dts:
                        dts = min(last_dts + 1, packet.pts)
                    packet.dts = last_dts = dts
                    writer.copy(packet)
        writer.close()
    except BaseException:
        writer.abort()
        raise


class WriteError(OutputError):
    """Writing the file failed (disk full, read-only, folder gone); ``reason`` says why."""

    def __init__(self, reason: str, path: Path) -> None:
        super().__init__(f"cannot write the output ({reason}): {path}")
        self.reason = reason


def _padding(info: VideoInfo, encoding: Encoding) -> tuple[int, int]:
    """Rows and columns the writer adds so that ``encoding`` takes the frame size."""
    return (info.height % 2, info.width % 2) if encoding.even_size else (0, 0)


def _output_error(error: OSError, path: Path) -> WriteError:
    return WriteError(str(error.strerror or error), path)
