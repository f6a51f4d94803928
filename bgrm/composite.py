"""Backgrounds and compositing: pure tensor maths on the device, no video I/O.

Frames are float tensors in [0, 1] of shape [N, 3, H, W]; alpha is [N, 1, H, W]. Everything here
works on any device and in float32 or float16. Video backgrounds are decoded elsewhere
(bgrm/video/background.py); here they are only scaled to cover the frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageColor, ImageOps
from torch import Tensor

from bgrm.errors import InputError

DEFAULT_BLUR_RADIUS = 30.0
"""Gaussian standard deviation in pixels at 1080p, as in Pillow's GaussianBlur(radius)."""

REFERENCE_HEIGHT = 1080
"""Frame height at which a blur radius is given; other heights scale it proportionally."""

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mxf", ".ts"})


@dataclass(frozen=True)
class ColourBackground:
    """A plain colour, 0..255 per channel."""

    rgb: tuple[int, int, int]


@dataclass(frozen=True)
class ImageBackground:
    """A still image, scaled to cover the frame and centre-cropped.

    Where the image is transparent (an RGBA PNG), the room blurred shows through.
    """

    path: Path


@dataclass(frozen=True)
class VideoBackground:
    """A video, scaled to cover the frame, centre-cropped and looped if shorter than the input."""

    path: Path


@dataclass(frozen=True)
class BlurBackground:
    """The room itself, blurred with the person removed; radius in pixels at 1080p."""

    radius: float = DEFAULT_BLUR_RADIUS


BackgroundSpec = ColourBackground | ImageBackground | VideoBackground | BlurBackground


def parse_background(spec: str) -> BackgroundSpec:
    """Parse a --bg value: '#RRGGBB', '#RGB', a CSS colour name, 'blur', 'blur:N', an image or
    a video path (told apart by the suffix).

    An existing file wins over a colour name of the same spelling.
    """
    if spec == "blur" or spec.startswith("blur:"):
        return _parse_blur(spec)
    path = Path(spec).expanduser()
    if path.is_file():
        if path.suffix.lower() in VIDEO_SUFFIXES:
            return VideoBackground(path)
        return ImageBackground(path)
    if path.exists():
        raise InputError(f"background is not a file: {path}")
    try:
        return _parse_colour(spec)
    except InputError:
        if spec.startswith("#"):
            raise
        if path.suffix or len(path.parts) > 1:
            raise InputError(f"background image not found: {path}") from None
        raise InputError(
            f"unknown background {spec!r}: not a colour, 'blur', 'blur:N' or an existing image file"
        ) from None


def _parse_blur(spec: str) -> BlurBackground:
    """'blur' or 'blur:N' with N > 0."""
    if spec == "blur":
        return BlurBackground()
    try:
        radius = float(spec.removeprefix("blur:"))
    except ValueError:
        radius = math.nan
    if not (math.isfinite(radius) and radius > 0):
        raise InputError(f"invalid background {spec!r}: the blur radius must be a number > 0")
    return BlurBackground(radius)


def _parse_colour(spec: str) -> ColourBackground:
    """'#RGB', '#RRGGBB' or any colour Pillow knows (CSS names, rgb(), hsl())."""
    try:
        r, g, b = ImageColor.getcolor(spec, "RGB")
    except ValueError:
        raise InputError(f"invalid background colour: {spec!r}") from None
    return ColourBackground((r, g, b))


class Background(Protocol):
    """A background for one frame size, device and dtype."""

    def frames(self, src: Tensor, pha: Tensor) -> Tensor:
        """src [N, 3, H, W], pha [N, 1, H, W] -> bg [N, 3, H, W], possibly an expanded view."""
        ...


def make_background(
    spec: BackgroundSpec, height: int, width: int, device: torch.device | str, dtype: torch.dtype
) -> Background:
    """Build the background for frames of height x width on device, in dtype.

    A VideoBackground has no frames of its own here: the pipeline decodes them and passes them
    through ``cover``.
    """
    if isinstance(spec, VideoBackground):
        raise TypeError("video backgrounds are decoded by the pipeline, not built here")
    if isinstance(spec, ColourBackground):
        colour = torch.tensor(spec.rgb, dtype=torch.float32).div(255).view(1, 3, 1, 1)
        return _StillBackground(colour.to(device, dtype))
    if isinstance(spec, ImageBackground):
        rgba = torch.from_numpy(_load_cover(spec.path, height, width))[None].to(device)
        image = from_uint8_hwc(rgba, dtype)  # [1, 4, H, W]
        if image.shape[1] == 3:
            return _StillBackground(image)
        room = _BlurBackground(
            DEFAULT_BLUR_RADIUS * height / REFERENCE_HEIGHT, height, width, device, dtype
        )
        return _LayeredBackground(image[:, :3], image[:, 3:], room)
    return _BlurBackground(spec.radius * height / REFERENCE_HEIGHT, height, width, device, dtype)


class _StillBackground:
    """The same picture behind every frame: image [1, 3, H, W] or colour [1, 3, 1, 1]."""

    def __init__(self, image: Tensor) -> None:
        self.image = image

    def frames(self, src: Tensor, pha: Tensor) -> Tensor:
        """src [N, 3, H, W] -> an expanded view [N, 3, H, W]; no copy."""
        return self.image.expand_as(src)


class _LayeredBackground:
    """A partly transparent image [1, 3, H, W] with alpha [1, 1, H, W] over another background."""

    def __init__(self, image: Tensor, alpha: Tensor, under: Background) -> None:
        self.image = image
        self.alpha = alpha
        self.under = under

    def frames(self, src: Tensor, pha: Tensor) -> Tensor:
        """src [N, 3, H, W], pha [N, 1, H, W] -> the image over ``under`` [N, 3, H, W]."""
        return torch.lerp(self.under.frames(src, pha), self.image, self.alpha)


def _load_cover(path: Path, height: int, width: int) -> np.ndarray:
    """Read an image, scale it to cover height x width, centre-crop -> uint8 [H, W, 3 or 4].

    Four channels (RGBA, straight alpha) only when the image has transparency.
    """
    try:
        with Image.open(path) as opened:
            image = ImageOps.exif_transpose(opened)
            image = image.convert("RGBA" if _has_transparency(image) else "RGB")
    except FileNotFoundError:
        raise InputError(f"background image not found: {path}") from None
    except (OSError, ValueError, Image.DecompressionBombError):
        raise InputError(f"cannot read background image: {path}") from None
    w, h = image.size
    scale = max(width / w, height / h)
    crop_w, crop_h = width / scale, height / scale
    left, top = (w - crop_w) / 2, (h - crop_h) / 2
    box = (left, top, left + crop_w, top + crop_h)
    return np.array(image.resize((width, height), Image.Resampling.LANCZOS, box=box))


def _has_transparency(image: Image.Image) -> bool:
    """Whether any pixel of ``image`` is less than opaque (alpha band or palette transparency)."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        low, _ = image.convert("RGBA").getchannel("A").getextrema()
        return low < 255
    return False


def cover(frames: Tensor, height: int, width: int) -> Tensor:
    """[N, 3, h, w] -> [N, 3, height, width]: scaled to cover, centre-cropped, never stretched."""
    h, w = frames.shape[-2:]
    if (h, w) == (height, width):
        return frames
    scale = max(width / w, height / h)
    crop_h, crop_w = min(h, round(height / scale)), min(w, round(width / scale))
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    cropped = frames[..., top : top + crop_h, left : left + crop_w]
    scaled = F.interpolate(
        cropped.float(), size=(height, width), mode="bilinear", align_corners=False, antialias=True
    )
    return scaled.clamp_(0, 1).to(frames.dtype)


class _BlurBackground:
    """The room blurred by normalised convolution, so the person leaves no halo in it.

    bg = blur(src * w) / blur(w) with w = 0 on the person, computed at a resolution reduced by an
    integer factor so that large radii stay cheap. Outside the frame counts as no data, so the
    edges are not darkened or smeared. Where blur(w) is ~0 (deep inside a large person,
    hidden anyway) a plain blur of src takes over, so there are no holes or NaNs.
    """

    CHANNELS = 7
    """Blurred together: src * w (3), w (1), src (3)."""

    FALLBACK_WEIGHT = 0.02
    """Below this blurred weight the plain blur is blended in, reaching it fully at 0."""

    def __init__(
        self, sigma: float, height: int, width: int, device: torch.device | str, dtype: torch.dtype
    ) -> None:
        self.factor = max(1, int(sigma / 2))  # reduced-resolution sigma in [2, 4)
        self.low_size = (math.ceil(height / self.factor), math.ceil(width / self.factor))
        self.size = (height, width)
        self.dtype = dtype
        low_sigma = max(sigma / self.factor, 1e-3)
        half = math.ceil(3 * low_sigma)
        taps = torch.arange(-half, half + 1, dtype=torch.float32)
        kernel = torch.exp(-0.5 * (taps / low_sigma) ** 2)
        kernel = (kernel / kernel.sum()).to(device)
        self.column = kernel.view(1, 1, -1, 1).repeat(self.CHANNELS, 1, 1, 1)  # [7, 1, K, 1]
        self.row = kernel.view(1, 1, 1, -1).repeat(self.CHANNELS, 1, 1, 1)  # [7, 1, 1, K]
        self.half = half
        ones = torch.ones(1, 1, *self.low_size, device=device)
        self.coverage = self._gauss(ones)  # [1, 1, h, w]: share of the kernel inside the frame

    def frames(self, src: Tensor, pha: Tensor) -> Tensor:
        """src [N, 3, H, W], pha [N, 1, H, W] -> blurred room [N, 3, H, W] in the frame dtype."""
        weight = (1 - 2 * pha).clamp(min=0).square()  # [N, 1, H, W]; 0 where pha >= 0.5
        stack = torch.cat([self._shrink(src * weight), self._shrink(weight), self._shrink(src)], 1)
        blurred = self._gauss(stack.float()) / self.coverage  # [N, 7, h, w]
        weighted, total, plain = blurred.split([3, 1, 3], dim=1)
        room = weighted / total.clamp(min=1e-6)
        trust = (total / self.FALLBACK_WEIGHT).clamp(max=1)
        low = torch.lerp(plain, room, trust).clamp(0, 1).to(self.dtype)
        if self.factor == 1:
            return low
        return F.interpolate(low, size=self.size, mode="bilinear", align_corners=False)

    def _shrink(self, x: Tensor) -> Tensor:
        """[N, C, H, W] -> area average [N, C, h, w] at the reduced resolution."""
        if self.factor == 1:
            return x
        return F.interpolate(x, size=self.low_size, mode="area")

    def _gauss(self, x: Tensor) -> Tensor:
        """Separable gaussian, zeros outside the frame: [N, C, h, w] -> [N, C, h, w], C <= 7."""
        c = x.shape[1]
        x = F.conv2d(x, self.column[:c], padding=(self.half, 0), groups=c)
        return F.conv2d(x, self.row[:c], padding=(0, self.half), groups=c)


def composite(fgr: Tensor, pha: Tensor, bg: Tensor) -> Tensor:
    """fgr [N, 3, H, W] * pha [N, 1, H, W] + bg [N, 3, H, W] * (1 - pha) -> [N, 3, H, W].

    Exact at pha = 0 and pha = 1.
    """
    return torch.lerp(bg, fgr, pha)


def to_uint8_hwc(x: Tensor) -> Tensor:
    """[N, C, H, W] float in [0, 1] -> contiguous [N, H, W, C] uint8 on the same device."""
    return x.mul(255).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def from_uint8_hwc(x: Tensor, dtype: torch.dtype) -> Tensor:
    """[N, H, W, C] uint8 -> contiguous [N, C, H, W] float in [0, 1] of dtype, same device."""
    return x.permute(0, 3, 1, 2).to(dtype, memory_format=torch.contiguous_format).div_(255)


def to_rgba_uint8(fgr: Tensor, pha: Tensor) -> Tensor:
    """fgr [N, 3, H, W], pha [N, 1, H, W] -> straight-alpha RGBA uint8 [N, H, W, 4], same device.

    The colour is the model's foreground (decontaminated of the background); where the alpha
    rounds to 0 the colour is 0 too, so transparent pixels carry nothing.
    """
    rgba = to_uint8_hwc(torch.cat([fgr, pha], dim=1))
    rgba[..., :3] *= rgba[..., 3:] > 0
    return rgba


def matte_to_uint8(pha: Tensor) -> Tensor:
    """pha [N, 1, H, W] -> uint8 [N, H, W], the same numbers as the alpha of ``to_rgba_uint8``."""
    return to_uint8_hwc(pha)[..., 0]
