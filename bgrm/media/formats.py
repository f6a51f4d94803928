"""Every container, codec, suffix and colour decision of bgrm's outputs, in one table.

A composite goes to .mp4/.mov/.mkv (H.264) or .webm (VP9) as 4:2:0 BT.601; the person with
alpha to ProRes 4444 (.mov) or VP9 with an alpha stream (.webm), BT.709, or to a folder of PNGs;
the matte to FFV1 gray (.mkv, lossless) or a white-on-black H.264/VP9 video. Each container
takes some audio codecs as they are and transcodes the rest to its fallback, and some subtitle
codecs as they are and drops the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

BT709, LIMITED_RANGE = 1, 1
"""FFmpeg's numbers for BT.709 (matrix, primaries, transfer) and limited ("tv") range."""

SMPTE170M = 6
"""FFmpeg's number for the BT.601 matrix (SMPTE 170M)."""

KEEP_NEGATIVE = {"avoid_negative_ts": "disabled"}
"""Matroska / WebM muxer option: a copied track's leading negative times are kept as they are."""

CHANNELS = {"rgb24": 3, "rgba": 4, "gray": 1}
"""Channels of the uint8 arrays a writer takes, by PyAV pixel format."""


@dataclass(frozen=True)
class AudioPolicy:
    """Which audio codecs a container takes as they are, and what to encode the rest to."""

    suffix: str
    copyable: frozenset[str] | None  # None: every codec
    fallback_encoder: str
    fallback_name: str
    fallback_format: str

    def takes(self, codec: str) -> bool:
        """Whether a track in ``codec`` can be copied into this container."""
        return self.copyable is None or codec in self.copyable


@dataclass(frozen=True)
class Encoding:
    """How frames become a stream: container, encoder, pixel formats, colour, audio."""

    container: str  # FFmpeg muxer name
    codec: str  # FFmpeg encoder name
    pix_fmt: str  # what the encoder is given
    pixels: str  # layout of the arrays written: a key of CHANNELS
    codec_options: dict[str, str] = field(default_factory=dict)
    stream_metadata: dict[str, str] = field(default_factory=dict)
    muxer_options: dict[str, str] = field(default_factory=dict)
    audio: AudioPolicy | None = None  # None: no audio in this file
    even_size: bool = False  # pad the last row / column (4:2:0 H.264 needs even sides)
    bt601: bool = False  # RGB -> YUV with BT.601 and only the matrix tagged (else BT.709)


_MOV_AUDIO = frozenset({"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"})
_PCM = frozenset({"pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be", "pcm_f32le", "pcm_f32be"})

AUDIO = {
    "mp4": AudioPolicy("mp4", _MOV_AUDIO, "aac", "aac", "fltp"),
    "mov": AudioPolicy("mov", _MOV_AUDIO | _PCM, "aac", "aac", "fltp"),
    "mkv": AudioPolicy("mkv", None, "aac", "aac", "fltp"),
    "webm": AudioPolicy("webm", frozenset({"opus", "vorbis"}), "libopus", "opus", "flt"),
    "mka": AudioPolicy("mka", None, "flac", "flac", "s16"),
}
"""Audio by container: what is copied, and the encoder for the rest."""

_TEXT_IN_MATROSKA = frozenset({"subrip", "srt", "ass", "ssa", "webvtt", "text"})
_PICTURES_IN_MATROSKA = frozenset({"dvd_subtitle", "dvb_subtitle", "hdmv_pgs_subtitle"})

SUBTITLES: dict[str, frozenset[str]] = {
    "mp4": frozenset({"mov_text"}),
    "mov": frozenset({"mov_text"}),
    "matroska": _TEXT_IN_MATROSKA | _PICTURES_IN_MATROSKA,
    "webm": frozenset({"webvtt"}),
}
"""Subtitle codecs each muxer takes as they are (copied, never converted)."""

# veryfast: at CRF 18 on 1080p it encodes 3-5x faster than the default (medium) for files
# within 2% of the size (measured on the sample scaled to 1080p), so the encoder never
# holds back the model.
X264_OPTIONS = {"preset": "veryfast", "crf": "18"}
VP9_OPTIONS = {"b:v": "0", "row-mt": "1", "cpu-used": "4", "deadline": "good"}


def _composite(container: str, codec: str, options: dict[str, str], audio: str, **extra):
    return Encoding(
        container, codec, "yuv420p", "rgb24", options, audio=AUDIO[audio], bt601=True, **extra
    )


COMPOSITES = {
    ".mp4": _composite("mp4", "libx264", X264_OPTIONS, "mp4", even_size=True),
    ".mov": _composite("mov", "libx264", X264_OPTIONS, "mov", even_size=True),
    ".mkv": _composite(
        "matroska", "libx264", X264_OPTIONS, "mkv", muxer_options=KEEP_NEGATIVE, even_size=True
    ),
    ".webm": _composite(
        "webm", "libvpx-vp9", {**VP9_OPTIONS, "crf": "18"}, "webm", muxer_options=KEEP_NEGATIVE
    ),
}
"""Composite outputs by suffix: uint8 RGB as 4:2:0 BT.601, with the input's audio."""

VIDEO_OUTPUT_SUFFIXES = tuple(COMPOSITES)
"""Suffixes of the composite and matte outputs; the suffix picks the container."""

ALPHA_VIDEOS = {
    # ProRes keeps alpha only in its 4444 profiles; prores_ks writes a 16-bit alpha plane.
    "prores": Encoding(
        container="mov",
        codec="prores_ks",
        pix_fmt="yuva444p10le",
        pixels="rgba",
        codec_options={"profile": "4444", "vendor": "apl0"},
        audio=AUDIO["mov"],
    ),
    # libvpx codes alpha as a second VP9 stream; the WebM muxer needs alpha_mode to keep it.
    "webm": Encoding(
        container="webm",
        codec="libvpx-vp9",
        pix_fmt="yuva420p",
        pixels="rgba",
        codec_options={**VP9_OPTIONS, "crf": "20"},
        stream_metadata={"alpha_mode": "1"},
        muxer_options=KEEP_NEGATIVE,
        audio=AUDIO["webm"],
    ),
}
"""The person with alpha as a video, by `alpha` value: straight alpha, BT.709."""

ALPHA_SUFFIXES = {"prores": ".mov", "webm": ".webm"}
"""The file suffix each alpha video needs."""

ALPHA_FORMATS = (*ALPHA_VIDEOS, "png")
"""Every `alpha` value: the alpha videos, and "png", a folder of RGBA PNG frames."""

PNG_FOLDER_SUFFIX = ".bgrm-frames"
"""Default name of a PNG frame folder: <stem>.bgrm-frames beside the input."""

PNG_AUDIO = {
    "audio.m4a": ("mp4", AUDIO["mp4"], {}),
    "audio.mka": ("matroska", AUDIO["mka"], KEEP_NEGATIVE),
}
"""Audio beside PNG frames (muxer, policy, muxer options): in .m4a when every track fits,
else in .mka, which takes every codec."""


def _h264_matte(container: str) -> Encoding:
    return Encoding(container, "libx264", "yuv420p", "gray", {"crf": "12"}, even_size=True)


MATTES = {
    ".mkv": Encoding(container="matroska", codec="ffv1", pix_fmt="gray", pixels="gray"),
    ".mp4": _h264_matte("mp4"),
    ".mov": _h264_matte("mov"),
    ".webm": Encoding("webm", "libvpx-vp9", "yuv420p", "gray", {**VP9_OPTIONS, "crf": "15"}),
}
"""The matte by suffix: .mkv is lossless (FFV1 gray); the others are a white-on-black video."""

BACKGROUND_VIDEO_SUFFIXES = frozenset({*VIDEO_OUTPUT_SUFFIXES, ".avi", ".m4v", ".mxf", ".ts"})
"""A `background` file with one of these suffixes is a video; any other file is an image."""

MEDIA_SUFFIXES = frozenset(
    {*BACKGROUND_VIDEO_SUFFIXES, ".png", ".jpg", ".jpeg", ".gif", ".tif", ".tiff", ".webp"}
)
"""Suffixes that name a file, not a folder: refused as the folder of PNG frames."""


def composite_encoding(path: Path) -> Encoding:
    """The composite's encoding for the suffix of ``path`` (checked by Job)."""
    return COMPOSITES[path.suffix.lower()]


def matte_encoding(path: Path) -> Encoding:
    """The matte's encoding for the suffix of ``path`` (checked by Job)."""
    return MATTES[path.suffix.lower()]


def default_output(source: Path, alpha: str | None) -> Path:
    """<stem>.bgrm<ext> beside the input: the input's suffix for a composite (.mkv when bgrm
    cannot write the input's container, e.g. .ts or .avi: Matroska takes every audio codec as
    it is), .mov for ProRes, .webm for VP9; PNG frames go to the folder <stem>.bgrm-frames."""
    if alpha == "png":
        return source.with_name(source.stem + PNG_FOLDER_SUFFIX)
    same = source.suffix if source.suffix.lower() in COMPOSITES else ".mkv"
    return source.with_name(f"{source.stem}.bgrm{ALPHA_SUFFIXES.get(alpha or '', same)}")


PART_CONTAINERS = {"libx264": "mp4", "prores_ks": "mov"}
"""Where the parts of a split job are encoded, by encoder: a container that keeps every
timestamp exact and the decode times of B-frames (Matroska rounds to a millisecond and drops
them), so the parts join without a shift. Other encoders (VP9 with its alpha side data, FFV1)
use the output's own container; they have no B-frames."""

SUFFIXES = {"mp4": ".mp4", "mov": ".mov", "matroska": ".mkv", "webm": ".webm"}
"""The file suffix of each muxer bgrm writes."""


def part_encoding(encoding: Encoding, time_base: Fraction) -> Encoding:
    """How one part of a split job is encoded: the same stream as ``encoding``, no audio (the
    join muxes it once), in a container that keeps ``time_base`` exactly."""
    container = PART_CONTAINERS.get(encoding.codec, encoding.container)
    options = dict(encoding.muxer_options)
    if container in ("mp4", "mov"):  # edit lists in the stream's own time scale, not in ms
        options = {"movie_timescale": str(time_base.denominator)}
    return replace(encoding, container=container, muxer_options=options, audio=None)
