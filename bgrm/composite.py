"""Tensor maths of the finished pixels: blend, light wrap, blur, RGBA, matte, uint8 and back.

Frames are float tensors in [0, 1] of shape [N, 3, H, W]; alpha is [N, 1, H, W]. Everything here
works on any device and in float32 or float16, does no I/O and imports nothing of bgrm.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

LIGHT_WRAP_SIGMA = 12.0
"""How far the background's light reaches into the person, in pixels at 1080p (a gaussian's
standard deviation; other heights scale it)."""

REFERENCE_HEIGHT = 1080
"""Frame height at which sizes in pixels are given; other heights scale them proportionally."""

LUMA = (0.2126, 0.7152, 0.0722)
"""BT.709 luma weights of R, G and B."""


def composite(fgr: Tensor, pha: Tensor, bg: Tensor) -> Tensor:
    """fgr [N, 3, H, W] * pha [N, 1, H, W] + bg [N, 3, H, W] * (1 - pha) -> [N, 3, H, W].

    Exact at pha = 0 and pha = 1.
    """
    return torch.lerp(bg, fgr, pha)


def light_wrap(fgr: Tensor, pha: Tensor, bg: Tensor, strength: float) -> Tensor:
    """fgr [N, 3, H, W] with the background bg [N, 3, H, W], blurred, screened into a band just
    inside the person's edge (pha [N, 1, H, W]), ``strength`` (0, 1] at the edge and fading
    inward, so the person sits in the scene. Deep inside the person (the blurred alpha is 1)
    and outside it (alpha 0) fgr is unchanged.
    """
    sigma = LIGHT_WRAP_SIGMA * fgr.shape[-2] / REFERENCE_HEIGHT
    light = gaussian_blur(bg, sigma)
    band = (pha * (1 - gaussian_blur(pha, sigma))).mul_(2 * strength).clamp_(0, 1)
    screened = 1 - (1 - fgr) * (1 - light)
    return torch.lerp(fgr, screened, band)


def luma(rgb: Tensor) -> Tensor:
    """rgb [N, 3, H, W] -> its BT.709 luma as gray RGB [N, 3, H, W]."""
    red, green, blue = rgb.split(1, dim=1)
    gray = red * LUMA[0] + green * LUMA[1] + blue * LUMA[2]  # pointwise: fuses when compiled
    return gray.expand_as(rgb)


def gaussian_kernel(sigma: float, device: torch.device) -> tuple[Tensor, int]:
    """A normalised gaussian [2 * half + 1] of standard deviation ``sigma``, and half."""
    sigma = max(sigma, 1e-3)
    half = math.ceil(3 * sigma)
    taps = torch.arange(-half, half + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    return (kernel / kernel.sum()).to(device), half


def gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    """[N, C, H, W] blurred by a gaussian of ``sigma`` pixels, edges repeated, computed at a
    resolution reduced so that the kernel stays small."""
    factor = max(1, int(sigma / 2))
    size = x.shape[-2:]
    low = F.interpolate(x, scale_factor=1 / factor, mode="area") if factor > 1 else x
    kernel, half = gaussian_kernel(sigma / factor, x.device)
    c = low.shape[1]
    kernel = kernel.to(low.dtype)
    low = F.pad(low, (half, half, half, half), mode="replicate")
    low = F.conv2d(low, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    low = F.conv2d(low, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    if factor == 1:
        return low
    return F.interpolate(low, size=size, mode="bilinear", align_corners=False)


def to_uint8(x: Tensor) -> Tensor:
    """Float in [0, 1] -> uint8 of the same shape, rounded to nearest, same device."""
    return x.mul(255).round_().clamp_(0, 255).to(torch.uint8)


def to_uint8_hwc(x: Tensor) -> Tensor:
    """[N, C, H, W] float in [0, 1] -> contiguous [N, H, W, C] uint8 on the same device."""
    return to_uint8(x).permute(0, 2, 3, 1).contiguous()


def from_uint8_hwc(x: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """[N, H, W, C] uint8 -> contiguous [N, C, H, W] float in [0, 1] of dtype, same device."""
    return x.permute(0, 3, 1, 2).to(dtype, memory_format=torch.contiguous_format).div_(255)


def to_rgba_uint8(fgr: Tensor, pha: Tensor) -> Tensor:
    """fgr [N, 3, H, W], pha [N, 1, H, W] -> straight-alpha RGBA uint8 [N, H, W, 4], same device.

    The colour is the model's foreground (decontaminated of the background); where the alpha
    rounds to 0 the colour is 0 too, so transparent pixels carry nothing.
    """
    alpha = to_uint8(pha)  # [N, 1, H, W]
    colour = to_uint8(fgr) * (alpha > 0)
    return torch.cat([colour, alpha], dim=1).permute(0, 2, 3, 1).contiguous()


def matte_to_uint8(pha: Tensor) -> Tensor:
    """pha [N, 1, H, W] -> uint8 [N, H, W], the same numbers as the alpha of ``to_rgba_uint8``."""
    return to_uint8_hwc(pha)[..., 0]
