"""What a `background` value asks for: a colour, an image, a video or the room blurred.

Parsing needs no frame size and no device, so a bad value fails before any work starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PIL import Image, ImageColor

from bgrm.errors import InputError, brief
from bgrm.media.formats import STILL_READERS, VIDEO_SUFFIXES
from bgrm.places import Place

DEFAULT_BACKGROUND = "blur"
"""The background when none is given: the room itself, blurred."""

DEFAULT_BLUR_RADIUS = 30.0
"""Gaussian standard deviation in pixels at 1080p, as in Pillow's GaussianBlur(radius)."""


@dataclass(frozen=True)
class ColourSpec:
    """A plain colour, 0..255 per channel."""

    rgb: tuple[int, int, int]


@dataclass(frozen=True)
class ImageSpec:
    """A still image, scaled to cover the frame and centre-cropped.

    Where the image is transparent (an RGBA PNG), the room blurred shows through.
    """

    path: Place  # a str or a Path is taken as its Place

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Place.of(self.path))


@dataclass(frozen=True)
class VideoSpec:
    """A video, scaled to cover the frame, centre-cropped and looped if shorter than the input."""

    path: Place  # a str or a Path is taken as its Place

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Place.of(self.path))


@dataclass(frozen=True)
class GrayscaleSpec:
    """The room itself with its colour removed (its luma only); the person keeps his."""


@dataclass(frozen=True)
class BlurSpec:
    """The room itself, blurred with the person removed; radius in pixels at 1080p."""

    radius: float = DEFAULT_BLUR_RADIUS


BackgroundSpec = ColourSpec | ImageSpec | VideoSpec | BlurSpec | GrayscaleSpec


def parse_background(spec: str) -> BackgroundSpec:
    """Parse a `background` value: '#RRGGBB', '#RGB', a CSS colour name, 'blur', 'blur:N',
    'grayscale', an image or a video path (told apart by the suffix).

    An existing file wins over a colour name of the same spelling.
    """
    if is_blur(spec):
        return _parse_blur(spec)
    if spec in ("grayscale", "greyscale"):
        return GrayscaleSpec()
    path = Place.of(spec).expanduser()
    if path.is_file("background"):  # an object is looked at when it is opened, not here
        return _file_spec(path)
    try:
        return _parse_colour(spec)
    except InputError:
        if spec.startswith("#"):
            raise
        if _looks_like_a_path(path):
            raise path.not_found("background image") from None
        raise InputError(
            f"unknown background {brief(spec)}: not a colour, 'blur', 'blur:N', 'grayscale' or an "
            f"existing image file"
        ) from None


def is_blur(spec: str) -> bool:
    """Whether a `background` value asks for the room blurred ('blur' or 'blur:N')."""
    return spec == "blur" or spec.startswith("blur:")


def _file_spec(path: Place) -> ImageSpec | VideoSpec:
    """An image or a video, by the suffix."""
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return VideoSpec(path)
    return ImageSpec(path)


def check_background_file(spec: BackgroundSpec) -> None:
    """Open the file of an image or video background far enough to know it can be used (no
    device, no torch); InputError naming it as the background otherwise."""
    if isinstance(spec, ImageSpec):
        try:
            with (
                spec.path.open("background") as file,
                Image.open(file, formats=STILL_READERS) as image,
            ):
                image.verify()
        except (OSError, ValueError, Image.DecompressionBombError):
            raise InputError(f"cannot read background image: {spec.path}") from None
    elif isinstance(spec, VideoSpec):
        from bgrm.media.probe import probe  # PyAV only where a background video is named

        try:
            probe(spec.path)
        except InputError as error:
            raise InputError(f"background video: {error}") from None


def background_file(spec: str | None) -> Place | None:
    """The file a `background` value names or seems to name; None for a colour or blur.

    A value that names no usable background but looks like a path (a folder or a suffix) counts
    as a path too, so that a check of where files may be read never reveals whether a file
    exists.
    """
    if spec is None:
        return None
    try:
        parsed = parse_background(spec)
    except InputError:
        path = Place.of(spec).expanduser()
        return path if _looks_like_a_path(path) else None
    return parsed.path if isinstance(parsed, ImageSpec | VideoSpec) else None


def _looks_like_a_path(path: Place) -> bool:
    """A suffix, or more than a bare name (a folder, a bucket)."""
    return bool(path.suffix) or str(path) != path.name


def _parse_blur(spec: str) -> BlurSpec:
    """'blur' or 'blur:N' with N > 0."""
    if spec == "blur":
        return BlurSpec()
    try:
        radius = float(spec.removeprefix("blur:"))
    except ValueError:
        radius = math.nan
    if not (math.isfinite(radius) and radius > 0):
        raise InputError(f"invalid background {brief(spec)}: the blur radius must be a number > 0")
    return BlurSpec(radius)


def _parse_colour(spec: str) -> ColourSpec:
    """'#RGB', '#RRGGBB' or any colour Pillow knows (CSS names, rgb(), hsl())."""
    try:
        r, g, b = ImageColor.getcolor(spec, "RGB")
    except ValueError:
        raise InputError(f"invalid background colour: {brief(spec)}") from None
    return ColourSpec((r, g, b))
