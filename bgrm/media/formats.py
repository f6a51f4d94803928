"""Every container, codec, suffix and colour decision of bgrm's outputs (and the formats it
reads), in one table.

A composite goes to .mp4/.mov/.mkv (H.264 by default, or HEVC, AV1, VP9) or .webm (VP9 or
AV1) as 4:2:0; the person with alpha to ProRes 4444 (.mov) or VP9 with an alpha stream
(.webm), or to a folder of PNGs; the matte to FFV1 gray (.mkv, lossless) or a white-on-black
H.264/VP9 video. A still image in gives a still image out. Every output of a job carries the
input's colour description (see ``Colour``) and pixel aspect. Each container takes some audio
codecs as they are and transcodes the rest to its fallback, and some subtitle codecs as they
are and drops the rest. MP4 and MOV files are written with their index first.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from fractions import Fraction

from bgrm.places import Place

KEEP_NEGATIVE = {"avoid_negative_ts": "disabled"}
"""Matroska / WebM muxer option: timestamps are written as given, never shifted."""

FASTSTART = {"movflags": "+faststart"}
"""MP4 / MOV muxer option: the index (moov) before the media, so a browser can start at once."""

STARTS_WITH_VIDEO = frozenset({"matroska", "webm"})
"""Muxers whose files start at their earliest packet: there no other track may begin before
the video's first frame (an Opus or AAC track's priming is moved to start with it), so that
the first frame is shown at the input's first time."""

UNSPECIFIED, LIMITED, FULL = 2, 1, 2
"""FFmpeg's numbers: an unspecified matrix, primaries or transfer; limited and full range."""

_SD = (6, 6, 1)  # SMPTE 170M (BT.601 525) matrix and primaries; its transfer is BT.709's
_SAME_TRANSFER = {6: 1}
"""SMPTE 170M's transfer is the function of BT.709's; written as BT.709's, the one every
format can carry (ProRes frame headers cannot say 170M)."""
_HD = (1, 1, 1)  # BT.709
_HDR_TRANSFERS = {16: "PQ (SMPTE 2084)", 18: "HLG (ARIB STD-B67)"}
_SWS_MATRIX = {1: 1, 4: 4, 5: 5, 6: 5, 7: 7, 9: 9, 10: 9}
"""AVColorSpace -> swscale's matrix (SWS_CS_*) for the conversions to and from RGB."""


@dataclass(frozen=True)
class Colour:
    """How a video's YUV relates to RGB, in FFmpeg's numbers (AVColorSpace, AVColorPrimaries,
    AVColorTransferCharacteristic, AVColorRange)."""

    matrix: int
    primaries: int
    transfer: int
    range: int

    @property
    def sws_matrix(self) -> int:
        """The matrix as swscale knows it (BT.601 for anything it does not)."""
        return _SWS_MATRIX.get(self.matrix, 5)

    @property
    def hdr(self) -> str | None:
        """The HDR transfer's name, or None for SDR."""
        return _HDR_TRANSFERS.get(self.transfer)


def colour_of(
    matrix: int, primaries: int, transfer: int, color_range: int, height: int, pix_fmt: str
) -> Colour:
    """A video's colour description with the blanks filled: an untagged matrix, primaries or
    transfer is BT.601 (SMPTE 170M) below 720 lines and BT.709 from 720 up; an untagged range
    is limited, except for full-range ("yuvj") formats. RGB and gray pictures have no matrix
    of their own: they get the defaults, limited range, for the YUV outputs. A SMPTE 170M
    transfer is described as BT.709's (the same function)."""
    default = _SD if height < 720 else _HD
    if not pix_fmt.startswith(("yuv", "nv", "p0", "p2", "y2")):  # RGB, gray, palette
        return Colour(*default, LIMITED)
    given = (matrix, primaries, transfer)
    filled = [d if g in (0, UNSPECIFIED) else g for g, d in zip(given, default, strict=True)]
    if color_range not in (LIMITED, FULL):
        color_range = FULL if pix_fmt.startswith("yuvj") else LIMITED
    filled[2] = _SAME_TRANSFER.get(filled[2], filled[2])
    return Colour(*filled, color_range)


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
    codec_tag: str | None = None  # the sample entry, where players need one ("hvc1")


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
X264_OPTIONS = {"preset": "veryfast"}
VP9_OPTIONS = {"b:v": "0", "row-mt": "1", "cpu-used": "4", "deadline": "good"}


@dataclass(frozen=True)
class CompositeCodec:
    """A codec a composite can be written in: its encoder, options and CRF (default, range)."""

    encoder: str
    options: dict[str, str]
    crf: int
    crf_range: tuple[int, int]
    codec_tag: str | None = None


CODECS = {
    "h264": CompositeCodec("libx264", X264_OPTIONS, 18, (0, 51)),
    # Measured with bench/codecs.py at 1080p on two cores (the sample scaled up), per minute:
    # h264 CRF 18 50 MiB at 13 frames/s; hevc veryfast CRF 22 13 MiB at 6 frames/s.
    "hevc": CompositeCodec(
        "libx265", {"preset": "veryfast", "x265-params": "log-level=error"}, 22, (0, 51), "hvc1"
    ),
    # SVT-AV1 preset 8, CRF 30: 10 MiB at 12 frames/s (presets above 8 are meant for tooling
    # and may show artifacts, it warns). VP9 (cpu-used 4) CRF 18: 42 MiB at 3 frames/s.
    "av1": CompositeCodec("libsvtav1", {"preset": "8"}, 30, (1, 63)),
    "vp9": CompositeCodec("libvpx-vp9", VP9_OPTIONS, 18, (0, 63)),
}
"""Composite codecs by `codec` value (measured with bench/codecs.py)."""

ENCODER_ENVIRONMENT = {"libsvtav1": {"SVT_LOG": "1"}}
"""Environment an encoder reads when it starts: SVT-AV1 prints only its errors."""

CONTAINER_CODECS = {
    ".mp4": ("h264", "hevc", "av1", "vp9"),
    ".mov": ("h264", "hevc"),
    ".mkv": ("h264", "hevc", "av1", "vp9"),
    ".webm": ("vp9", "av1"),
}
"""The codecs each composite container takes; the first is its default."""

_COMPOSITE_CONTAINERS = {
    ".mp4": ("mp4", FASTSTART, "mp4"),
    ".mov": ("mov", FASTSTART, "mov"),
    ".mkv": ("matroska", KEEP_NEGATIVE, "mkv"),
    ".webm": ("webm", KEEP_NEGATIVE, "webm"),
}
"""Composite containers by suffix: muxer, muxer options, audio policy."""

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"})
"""Inputs with these suffixes are still images: a still image comes out."""


READ_DEMUXERS = (
    "mov",  # FFmpeg's "mov,mp4,m4a,3gp,3g2,mj2" (its external references stay off)
    "matroska",  # also WebM
    "avi",
    "mpegts",
    "mpeg",  # MPEG program streams (.mpg, .vob)
    "flv",
    "mxf",
    "ogg",
    "gif",
    "h264",  # raw elementary streams
    "hevc",
)
"""The FFmpeg demuxers inputs and background videos are read with: the containers a recording
comes in, each one file that names no other. FFmpeg refuses any other format it detects
before it reads the file's header (so before a playlist or a list opens what it names)."""

READ_FORMATS = "MP4/MOV, Matroska/WebM, AVI, MPEG-TS/PS, FLV, MXF, Ogg, GIF or raw H.264/HEVC"
"""READ_DEMUXERS in a user's words."""

NAMES_OTHER_FILES = frozenset(
    {"avisynth", "concat", "dash", "hls", "image2", "imf", "rtsp", "sdp", "vapoursynth"}
)
"""Formats (FFmpeg's names) whose files name other files or streams to read: playlists,
lists, manifests, image sequences, session descriptions, scripts."""

STILL_READERS = ("PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF")
"""The Pillow formats still images (inputs and backgrounds) are read as; no other decoder
of Pillow's sees a file (JPEG's opens a camera's multi-picture JPEG too)."""


def is_still_image(path: str | os.PathLike) -> bool:
    """Whether an input is a still image (decided by its suffix, here only)."""
    return Place.of(path).suffix.lower() in IMAGE_SUFFIXES


STILL_OUTPUTS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
"""Still images bgrm writes, by suffix (Pillow format); PNG and WebP keep alpha."""

STILL_ALPHA_SUFFIXES = (".png", ".webp")


def composite_encoding(path: Place, codec: str | None = None, crf: int | None = None) -> Encoding:
    """The composite's encoding for the suffix of ``path``, in ``codec`` (None: the container's
    default) at ``crf`` (None: the codec's default); both checked by Job."""
    suffix = path.suffix.lower()
    container, muxer_options, audio = _COMPOSITE_CONTAINERS[suffix]
    chosen = CODECS[codec or CONTAINER_CODECS[suffix][0]]
    return Encoding(
        container,
        chosen.encoder,
        "yuv420p",
        "rgb24",
        {**chosen.options, "crf": str(crf if crf is not None else chosen.crf)},
        muxer_options=muxer_options,
        audio=AUDIO[audio],
        even_size=True,
        codec_tag=chosen.codec_tag,
    )


VIDEO_OUTPUT_SUFFIXES = tuple(CONTAINER_CODECS)
"""Suffixes of the composite and matte outputs; the suffix picks the container."""

ALPHA_VIDEOS = {
    # ProRes keeps alpha only in its 4444 profiles; prores_ks writes a 16-bit alpha plane.
    "prores": Encoding(
        container="mov",
        codec="prores_ks",
        pix_fmt="yuva444p10le",
        pixels="rgba",
        codec_options={"profile": "4444", "vendor": "apl0"},
        muxer_options=FASTSTART,
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
"""The person with alpha as a video, by `alpha` value: straight alpha."""

ALPHA_SUFFIXES = {"prores": ".mov", "webm": ".webm"}
"""The file suffix each alpha video needs."""

ALPHA_FORMATS = (*ALPHA_VIDEOS, "png")
"""Every `alpha` value: the alpha videos, and "png", a folder of RGBA PNG frames."""

PNG_FOLDER_SUFFIX = ".bgrm-frames"
"""Default name of a PNG frame folder: <stem>.bgrm-frames beside the input."""

PNG_AUDIO = {
    "audio.m4a": ("mp4", AUDIO["mp4"], FASTSTART),
    "audio.mka": ("matroska", AUDIO["mka"], KEEP_NEGATIVE),
}
"""Audio beside PNG frames (muxer, policy, muxer options): in .m4a when every track fits,
else in .mka, which takes every codec."""


def _h264_matte(container: str) -> Encoding:
    return Encoding(
        container,
        "libx264",
        "yuv420p",
        "gray",
        {"crf": "12"},
        muxer_options=FASTSTART,
        even_size=True,
    )


MATTES = {
    ".mkv": Encoding(container="matroska", codec="ffv1", pix_fmt="gray", pixels="gray"),
    ".mp4": _h264_matte("mp4"),
    ".mov": _h264_matte("mov"),
    ".webm": Encoding(
        "webm",
        "libvpx-vp9",
        "yuv420p",
        "gray",
        {**VP9_OPTIONS, "crf": "15"},
        muxer_options=KEEP_NEGATIVE,
    ),
}
"""The matte by suffix: .mkv is lossless (FFV1 gray); the others are a white-on-black video."""

VIDEO_SUFFIXES = frozenset({*VIDEO_OUTPUT_SUFFIXES, ".avi", ".m4v", ".mxf", ".ts"})
"""A file with one of these suffixes is a video: the inputs `process_many` finds in a folder, and
a `background` file (any other background file is an image)."""

MEDIA_SUFFIXES = frozenset({*VIDEO_SUFFIXES, *IMAGE_SUFFIXES, ".gif"})
"""Suffixes that name a file, not a folder: refused as the folder of PNG frames."""


def matte_encoding(path: Place) -> Encoding:
    """The matte's encoding for the suffix of ``path`` (checked by Job)."""
    return MATTES[path.suffix.lower()]


def default_output(source: Place, alpha: str | None) -> Place:
    """<stem>.bgrm<ext> beside the input: the input's suffix for a composite (.mkv when bgrm
    cannot write the input's container, e.g. .ts or .avi: Matroska takes every audio codec as
    it is), .mov for ProRes, .webm for VP9; PNG frames go to the folder <stem>.bgrm-frames.
    A still image gives <stem>.bgrm.png."""
    if is_still_image(source):
        return source.with_name(f"{source.stem}.bgrm.png")
    if alpha == "png":
        return source.with_name(source.stem + PNG_FOLDER_SUFFIX)
    same = source.suffix if source.suffix.lower() in CONTAINER_CODECS else ".mkv"
    return source.with_name(f"{source.stem}.bgrm{ALPHA_SUFFIXES.get(alpha or '', same)}")


PART_CONTAINERS = {"libx264": "mp4", "libx265": "mp4", "libsvtav1": "mp4", "prores_ks": "mov"}
"""Where the parts of a split job are encoded, by encoder: a container that keeps every
timestamp exact and the decode times of B-frames (Matroska rounds to a millisecond and drops
them), so the parts join without a shift. Other encoders (VP9 with its alpha side data, FFV1)
use the output's own container; they reorder no frames."""

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
