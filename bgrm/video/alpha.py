"""Video formats that carry the person's alpha: ProRes 4444 and VP9 WebM, and the matte video.

Colours are straight (not premultiplied) alpha, converted to YUV with BT.709 and tagged so.
"""

from __future__ import annotations

from pathlib import Path

from bgrm.video.encode import VP9_OPTIONS, audio_policy
from bgrm.video.writer import KEEP_NEGATIVE, Encoding

ALPHA_ENCODINGS = {
    # ProRes keeps alpha only in its 4444 profiles; prores_ks writes a 16-bit alpha plane.
    "prores": Encoding(
        container="mov",
        codec="prores_ks",
        pix_fmt="yuva444p10le",
        pixels="rgba",
        codec_options={"profile": "4444", "vendor": "apl0"},
        audio=audio_policy("mov"),
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
        audio=audio_policy("webm"),
    ),
}


def _h264_matte(container: str) -> Encoding:
    return Encoding(
        container=container,
        codec="libx264",
        pix_fmt="yuv420p",
        pixels="gray",
        codec_options={"crf": "12"},
        even_size=True,
    )


MATTE_ENCODINGS = {
    ".mkv": Encoding(container="matroska", codec="ffv1", pix_fmt="gray", pixels="gray"),
    ".mp4": _h264_matte("mp4"),
    ".mov": _h264_matte("mov"),
    ".webm": Encoding(
        container="webm",
        codec="libvpx-vp9",
        pix_fmt="yuv420p",
        pixels="gray",
        codec_options={**VP9_OPTIONS, "crf": "15"},
    ),
}
"""The matte by suffix: .mkv is lossless (FFV1 gray); the others are a white-on-black video."""


def matte_encoding(path: Path) -> Encoding:
    """The matte's encoding for the suffix of ``path`` (checked by ProcessOptions)."""
    return MATTE_ENCODINGS[path.suffix.lower()]
