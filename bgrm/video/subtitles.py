"""Which subtitle codecs each output container takes as they are (copied, never converted)."""

from __future__ import annotations

import av

_TEXT_IN_MATROSKA = frozenset({"subrip", "srt", "ass", "ssa", "webvtt", "text"})
_PICTURES_IN_MATROSKA = frozenset({"dvd_subtitle", "dvb_subtitle", "hdmv_pgs_subtitle"})

_BY_FORMAT: dict[str, frozenset[str]] = {
    "mp4": frozenset({"mov_text"}),
    "mov": frozenset({"mov_text"}),
    "matroska": _TEXT_IN_MATROSKA | _PICTURES_IN_MATROSKA,
    "webm": frozenset({"webvtt"}),
}


def subtitle_codec(stream: av.stream.Stream) -> str:
    """The codec name of a subtitle stream ("subrip", "mov_text", "ass", ...)."""
    return stream.codec_context.name if stream.codec_context else "unknown"


def takes_subtitle(container_format: str, codec: str) -> bool:
    """Whether an output of ``container_format`` (FFmpeg muxer name) can hold ``codec`` as is."""
    return codec in _BY_FORMAT.get(container_format, frozenset())
