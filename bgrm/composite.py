"""Tensor maths of the finished pixels: blend over a background, RGBA, matte, uint8 and back.

Frames are float tensors in [0, 1] of shape [N, 3, H, W]; alpha is [N, 1, H, W]. Everything here
works on any device and in float32 or float16, and does no I/O.
"""

from __future__ import annotations

import torch
from torch import Tensor


def composite(fgr: Tensor, pha: Tensor, bg: Tensor) -> Tensor:
    """fgr [N, 3, H, W] * pha [N, 1, H, W] + bg [N, 3, H, W] * (1 - pha) -> [N, 3, H, W].

    Exact at pha = 0 and pha = 1.
    """
    return torch.lerp(bg, fgr, pha)


def to_uint8_hwc(x: Tensor) -> Tensor:
    """[N, C, H, W] float in [0, 1] -> contiguous [N, H, W, C] uint8 on the same device."""
    return x.mul(255).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def from_uint8_hwc(x: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
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
