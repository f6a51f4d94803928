"""Carry the input's audio and subtitle tracks into an output, in step with the video.

The input is opened a second time and only its audio and subtitle streams are demuxed, one
packet ahead at most, so memory stays flat however long the file is. An audio track whose codec
the output container takes is copied packet for packet (same bytes, same timestamps); any other
audio track is transcoded to the container's fallback codec. A subtitle track is copied where
the container takes its codec and dropped with a notice otherwise; data streams are dropped
with a notice. A damaged packet is skipped and counted, never the end of the job.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator

import av

from bgrm.media.formats import STARTS_WITH_VIDEO, SUBTITLES, AudioPolicy
from bgrm.media.probe import MAX_READ_ERRORS_IN_A_ROW, open_input, video_stream
from bgrm.places import Place


class AudioMuxer:
    """Mux the audio and subtitles of ``source`` into ``output`` up to the video's time.

    ``video_start``: the video's first time in seconds. In a container that starts at its
    earliest packet (formats.STARTS_WITH_VIDEO), a track that would begin before it (the
    priming of an Opus or AAC encoder: 7 or 21 ms) is moved to begin with it.
    """

    def __init__(
        self,
        source: Place,
        output: av.container.OutputContainer,
        policy: AudioPolicy,
        on_notice: Callable[[str], None],
        video_start: float = 0.0,
    ) -> None:
        not_before = video_start if output.format.name in STARTS_WITH_VIDEO else None
        self._input = open_input(source)
        self._on_notice = on_notice
        self._skipped = 0
        self._tracks: dict[int, _CopyTrack | _TranscodeTrack] = {}
        for stream in self._input.streams.audio:
            if stream.codec_context is None:
                on_notice(f"audio track {stream.index}: unknown codec, dropped")
                continue
            codec = stream.codec_context.name
            if policy.takes(codec):
                self._tracks[stream.index] = _CopyTrack(stream, output, not_before)
            else:
                on_notice(
                    f"audio track {stream.index}: {codec} is not allowed in .{policy.suffix}, "
                    f"transcoding to {policy.fallback_name}"
                )
                self._tracks[stream.index] = _TranscodeTrack(stream, output, policy, not_before)
        for stream in self._input.streams.subtitles:
            codec = stream.codec_context.name if stream.codec_context else "unknown"
            if codec in SUBTITLES.get(output.format.name, frozenset()):
                self._tracks[stream.index] = _CopyTrack(stream, output, not_before)
            else:
                on_notice(
                    f"subtitle track {stream.index}: {codec} is not allowed in "
                    f".{policy.suffix}, dropped"
                )
        _say_dropped(self._input, source, on_notice)
        self._streams = [self._input.streams[index] for index in self._tracks]
        self._packets: Iterator[av.Packet] = self._demux()
        self._pending: av.Packet | None = None
        self._pull()

    def advance_to(self, seconds: float) -> None:
        """Mux every audio packet that starts at or before ``seconds``."""
        while self._pending is not None and _start_s(self._pending) <= seconds:
            self._push()

    def finish(self) -> None:
        """Mux what is left of every track and flush the transcoders."""
        while self._pending is not None:
            self._push()
        for track in self._tracks.values():
            with self._skipping_damage():
                track.flush()
        if self._skipped:
            self._on_notice(f"warning: skipped {self._skipped} damaged audio or subtitle packets")
        self.close()

    def close(self) -> None:
        """Close the second handle on the input."""
        self._input.close()

    def _push(self) -> None:
        packet = self._pending
        self._pull()
        with self._skipping_damage():
            self._tracks[packet.stream.index].mux(packet)

    @contextlib.contextmanager
    def _skipping_damage(self) -> Iterator[None]:
        """Count and skip a packet the decoder or muxer rejects; a failing write still raises."""
        try:
            yield
        except av.FFmpegError as error:
            if isinstance(error, OSError):
                raise
            self._skipped += 1

    def _pull(self) -> None:
        """Read the next packet that holds data (the demuxer's end markers are skipped)."""
        self._pending = next(self._packets, None)

    def _demux(self) -> Iterator[av.Packet]:
        """Packets of the kept tracks that hold data; unreadable stretches are stepped over."""
        if not self._streams:
            return
        errors_in_a_row = 0
        while errors_in_a_row < MAX_READ_ERRORS_IN_A_ROW:
            try:
                for packet in self._input.demux(*self._streams):
                    errors_in_a_row = 0
                    if packet.size:
                        yield packet
                return
            except av.FFmpegError:
                self._skipped += 1
                errors_in_a_row += 1


def _say_dropped(container, source: Place, on_notice: Callable[[str], None]) -> None:
    """One notice per stream that is neither the video, audio nor subtitles (data, extra video)."""
    kept_video = video_stream(container, source).index
    for stream in container.streams:
        if stream.type in ("audio", "subtitle") or stream.index == kept_video:
            continue
        codec = stream.codec_context.name if stream.codec_context else "unknown"
        on_notice(f"{stream.type} stream {stream.index} ({codec or 'unknown'}) dropped")


def _start_s(packet: av.Packet) -> float:
    start = packet.pts if packet.pts is not None else packet.dts
    if start is None:
        return float("-inf")
    return float(start * packet.time_base)


class _CopyTrack:
    """An audio or subtitle stream copied packet for packet."""

    def __init__(
        self,
        source: av.stream.Stream,
        output: av.container.OutputContainer,
        not_before: float | None,
    ):
        self._stream = output.add_stream_from_template(source)
        self._stream.time_base = source.time_base
        self._mux = _Muxing(output, not_before)
        _copy_language(source, self._stream)

    def mux(self, packet: av.Packet) -> None:
        packet.stream = self._stream
        self._mux([packet])

    def flush(self) -> None:
        """Nothing is buffered in a copy."""


class _TranscodeTrack:
    """An audio stream decoded and encoded again to a codec the container takes."""

    def __init__(
        self,
        source: av.audio.AudioStream,
        output: av.container.OutputContainer,
        policy: AudioPolicy,
        not_before: float | None,
    ):
        self._mux = _Muxing(output, not_before)
        self._decoder = source.codec_context
        rate = source.codec_context.sample_rate
        if policy.fallback_encoder == "libopus":
            rate = 48000
        self._stream = output.add_stream(policy.fallback_encoder, rate=rate)
        self._stream.layout = source.codec_context.layout
        self._stream.format = policy.fallback_format
        _copy_language(source, self._stream)
        self._resampler: av.AudioResampler | None = None

    def mux(self, packet: av.Packet) -> None:
        for frame in self._decoder.decode(packet):
            self._encode(frame)

    def flush(self) -> None:
        """Drain the decoder, the resampler and the encoder."""
        for frame in self._decoder.decode(None):
            self._encode(frame)
        self._encode(None)
        self._mux(self._stream.encode(None))

    def _encode(self, frame: av.AudioFrame | None) -> None:
        if self._resampler is None:
            context = self._stream.codec_context
            if not context.is_open:
                context.open()
            self._resampler = av.AudioResampler(
                format=context.format,
                layout=context.layout,
                rate=context.sample_rate,
                frame_size=context.frame_size or None,
            )
        for resampled in self._resampler.resample(frame):
            self._mux(self._stream.encode(resampled))


class _Muxing:
    """Muxes one track's packets, moved later as a whole if it would begin before
    ``not_before`` seconds (None: never moved)."""

    def __init__(self, output: av.container.OutputContainer, not_before: float | None):
        self._output = output
        self._not_before = not_before
        self._shift: int | None = None if not_before is not None else 0

    def __call__(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            if self._shift is None:
                self._shift = self._shift_for(packet)
            if self._shift:
                packet.pts = None if packet.pts is None else packet.pts + self._shift
                packet.dts = None if packet.dts is None else packet.dts + self._shift
            self._output.mux(packet)

    def _shift_for(self, packet: av.Packet) -> int:
        """Ticks that bring the track's first packet to ``not_before``, or 0."""
        start = packet.pts if packet.pts is not None else packet.dts
        if start is None or packet.time_base is None:
            return 0
        late = self._not_before - float(start * packet.time_base)
        return max(0, math.ceil(late / packet.time_base - 1e-9))


def _copy_language(source: av.stream.Stream, target: av.stream.Stream) -> None:
    language = source.metadata.get("language")
    if language:
        target.metadata["language"] = language
