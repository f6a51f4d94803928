"""Backgrounds: a `background` value parsed, then opened for one frame size and device.

Every kind (colour, image, video, the room blurred or in gray) answers the same call, so the
pipeline treats them alike (only opening one loads torch):

    room = open_background(parse_background("beach.jpg"), 1080, 1920, device)
    bg = room.frames(src, pha, times)   # [N, 3, H, W] float on the device
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bgrm.backgrounds.protocol import Background, StagedBackground
from bgrm.backgrounds.spec import (
    DEFAULT_BACKGROUND,
    DEFAULT_BLUR_RADIUS,
    BackgroundSpec,
    BlurSpec,
    ColourSpec,
    GrayscaleSpec,
    ImageSpec,
    VideoSpec,
    background_file,
    check_background_file,
    is_blur,
    parse_background,
)

if TYPE_CHECKING:
    import torch

__all__ = [
    "DEFAULT_BACKGROUND",
    "DEFAULT_BLUR_RADIUS",
    "Background",
    "BackgroundSpec",
    "BlurSpec",
    "ColourSpec",
    "GrayscaleSpec",
    "ImageSpec",
    "StagedBackground",
    "VideoSpec",
    "background_file",
    "check_background_file",
    "is_blur",
    "open_background",
    "parse_background",
]


def open_background(
    spec: BackgroundSpec,
    height: int,
    width: int,
    device: torch.device,
    on_notice: Callable[[str], None] = lambda message: None,
    pixel_aspect: float = 1.0,
) -> Background:
    """The background ``spec`` asks for, for frames of height x width on ``device`` whose
    pixels are ``pixel_aspect`` times as wide as high (images and videos are scaled to cover
    the frame as it is shown, so they are not stretched by it; the blur is round as shown)."""
    # Imported here: parsing a spec (a Job, the queue's client) must not load torch.
    from bgrm.backgrounds.blur import BlurredRoom
    from bgrm.backgrounds.grayscale import GrayRoom
    from bgrm.backgrounds.still import Layered, Still, load_image
    from bgrm.backgrounds.video import Playing

    if isinstance(spec, ColourSpec):
        return Still.colour(spec.rgb, device)
    if isinstance(spec, ImageSpec):
        image = load_image(spec.path, height, width, device, pixel_aspect)  # [1, 3 or 4, H, W]
        if image.shape[1] == 3:
            return Still(image)
        room = BlurredRoom(DEFAULT_BLUR_RADIUS, height, width, device, pixel_aspect)
        return Layered(image[:, :3], image[:, 3:], room)
    if isinstance(spec, VideoSpec):
        return Playing(
            spec.path,
            height,
            width,
            device,
            on_loop=lambda seconds: on_notice(
                f"background video is shorter ({seconds:.1f} s) than the input: looping it"
            ),
            pixel_aspect=pixel_aspect,
        )
    if isinstance(spec, GrayscaleSpec):
        return GrayRoom()
    return BlurredRoom(spec.radius, height, width, device, pixel_aspect)
