"""Still images in and out: a photo goes through bgrm as a video of one frame, with no time.

Read with Pillow, turned upright by its EXIF orientation; written with Pillow (PNG, JPEG,
WebP; RGBA where the format keeps alpha), with the input's ICC profile kept. A cut-out or a
matte in WebP is lossless and exact: the same numbers as in PNG.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from bgrm.errors import InputError, OutputError
from bgrm.media.formats import STILL_OUTPUTS, STILL_READERS, Colour
from bgrm.media.info import VideoInfo
from bgrm.places import Place

SRGB_AS_VIDEO = Colour(1, 1, 13, 1)
"""A still's colour as the pipeline records it: BT.709 primaries, sRGB transfer (its pixels
are never converted to YUV)."""


def probe_still(path: Place) -> VideoInfo:
    """A still image as a one-frame video (upright size); InputError if it cannot be read."""
    image = _open(path)
    return VideoInfo(
        path=path,
        width=image.width,
        height=image.height,
        time_base=Fraction(1),
        average_rate=None,
        frame_count=1,
        duration_s=None,
        codec=(image.format or "image").lower(),
        audio=(),
        start_pts=0,
        colour=SRGB_AS_VIDEO,
        still=True,
    )


def read_still(path: Place) -> Iterator[tuple[np.ndarray, int]]:
    """The one frame: uint8 [H, W, 3] RGB, upright, at pts 0."""
    yield np.asarray(_open(path).convert("RGB")), 0


def _open(path: Place) -> Image.Image:
    """The image at ``path`` (a file or an object), loaded and turned upright."""
    path.check_file()
    try:
        with path.open() as file, Image.open(file, formats=STILL_READERS) as opened:
            image = ImageOps.exif_transpose(opened)
            image.load()
    except (OSError, ValueError, Image.DecompressionBombError):
        raise InputError(f"not a readable image: {path}") from None
    return image


class StillWriter:
    """Writes the one frame it is given as an image at ``path`` (the format from its suffix)."""

    def __init__(self, path: Path, info: VideoInfo, suffix: str) -> None:
        self._path = Path(path)
        self._info = info
        self._format = STILL_OUTPUTS[suffix]
        self._frame: np.ndarray | None = None

    def write(self, pixels: np.ndarray, pts: int) -> None:
        """Keep uint8 [H, W, 3 or 4] (or [H, W] gray) to write at close."""
        self._frame = pixels

    def close(self) -> None:
        if self._frame is None:
            return
        with (
            self._info.path.open() as file,
            Image.open(file, formats=STILL_READERS) as source,
        ):
            profile = source.info.get("icc_profile")
        image = Image.fromarray(np.ascontiguousarray(self._frame))
        options = {"icc_profile": profile} if profile else {}
        if self._format == "JPEG":
            options["quality"] = 95
        elif self._format == "WEBP" and image.mode != "RGB":  # the cut-out or the matte: data
            options.update(lossless=True, exact=True)  # as the PNG, colour kept under alpha 0
        try:
            image.save(self._path, format=self._format, **options)
        except OSError as error:
            reason = error.strerror or error
            raise OutputError(f"cannot write the output ({reason}): {self._path}") from error

    def abort(self) -> None:
        """Nothing written yet; the caller deletes the file."""
