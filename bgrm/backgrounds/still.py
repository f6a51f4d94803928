"""Backgrounds that stay the same in every frame: a colour, or an image scaled to cover."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import Tensor

from bgrm.backgrounds.protocol import FixedPlanes
from bgrm.composite import from_uint8_hwc, to_uint8_hwc
from bgrm.errors import InputError
from bgrm.media.formats import STILL_READERS, Colour
from bgrm.media.planes import rgb_in_planes, split
from bgrm.places import Place

if TYPE_CHECKING:
    from bgrm.backgrounds.protocol import Background


class Still:
    """The same picture behind every frame: image [1, 3, H, W] or colour [1, 3, 1, 1]."""

    pure = True
    staged = False

    def __init__(self, image: Tensor) -> None:
        self.image = image

    @classmethod
    def colour(cls, rgb: tuple[int, int, int], device: torch.device) -> Still:
        return cls(torch.tensor(rgb, dtype=torch.float32, device=device).div(255).view(1, 3, 1, 1))

    def frames(self, src: Tensor, pha: Tensor, times: Sequence[float]) -> Tensor:
        """src [N, 3, H, W] -> an expanded view [N, 3, H, W]; no copy."""
        return self.image.expand_as(src)

    def in_planes(self, colour: Colour) -> FixedPlanes:
        """The picture converted once into the video's planes, as the encoder converts RGB
        (a colour: one value per plane)."""
        colour_only = self.image.shape[-1] == 1
        shown = self.image.expand(1, 3, 2, 2) if colour_only else self.image  # a colour: 2x2
        rgb = to_uint8_hwc(shown)[0].cpu().numpy()
        planes = torch.from_numpy(rgb_in_planes(rgb, colour)).to(self.image.device)
        y, u, v = split(planes, *rgb.shape[:2])
        if colour_only:
            y, u, v = y[:, :1, :1], u[:, :1, :1], v[:, :1, :1]
        return FixedPlanes((y.float(), u.float(), v.float()))

    def close(self) -> None:
        """Nothing to release."""


class Layered:
    """A partly transparent image [1, 3, H, W] with alpha [1, 1, H, W] over another background."""

    staged = False

    def __init__(self, image: Tensor, alpha: Tensor, under: Background) -> None:
        self.image = image
        self.alpha = alpha
        self.under = under

    @property
    def pure(self) -> bool:
        """As pure as what shows through it."""
        return self.under.pure

    def frames(self, src: Tensor, pha: Tensor, times: Sequence[float]) -> Tensor:
        """src [N, 3, H, W], pha [N, 1, H, W] -> the image over ``under`` [N, 3, H, W]."""
        return torch.lerp(self.under.frames(src, pha, times), self.image, self.alpha)

    def in_planes(self, colour: Colour) -> None:
        """Partly transparent over another background: composited in RGB."""
        return None

    def close(self) -> None:
        self.under.close()


def load_image(
    path: Place, height: int, width: int, device: torch.device, pixel_aspect: float = 1.0
) -> Tensor:
    """The image at ``path`` scaled to cover height x width pixels that are ``pixel_aspect``
    times as wide as high, centre-cropped, never stretched as shown: float [1, C, H, W] on
    ``device``, C = 4 (straight alpha) only when it has transparency."""
    try:
        with (
            path.open("background image") as file,
            Image.open(file, formats=STILL_READERS) as opened,
        ):
            image = ImageOps.exif_transpose(opened)
            image = image.convert("RGBA" if _has_transparency(image) else "RGB")
    except (OSError, ValueError, Image.DecompressionBombError):
        raise InputError(f"cannot read background image: {path}") from None
    w, h = image.size
    shown = width * pixel_aspect  # the frame's width as shown, in square pixels
    scale = max(shown / w, height / h)
    crop_w, crop_h = shown / scale, height / scale
    left, top = (w - crop_w) / 2, (h - crop_h) / 2
    box = (left, top, left + crop_w, top + crop_h)
    pixels = np.array(image.resize((width, height), Image.Resampling.LANCZOS, box=box))
    return from_uint8_hwc(torch.from_numpy(pixels)[None].to(device), torch.float32)


def _has_transparency(image: Image.Image) -> bool:
    """Whether any pixel of ``image`` is less than opaque (alpha band or palette transparency)."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        low, _ = image.convert("RGBA").getchannel("A").getextrema()
        return low < 255
    return False
