"""Recurrent decoder: bottleneck GRU, three upsampling GRU blocks, and the output block.

Every block sees the (downsampled) input image average-pooled to its own scale. Half of each
block's channels pass through a ConvGRU whose state is carried from clip to clip.
Shapes below use N = B * T frames and h, w for the downsampled input size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bgrm.matting.convgru import ConvGRU


def _upsample_to(x: Tensor, like: Tensor) -> Tensor:
    """Bilinear x2, then crop to the size of ``like`` (odd sizes round up in the encoder)."""
    x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
    return x[:, :, : like.shape[-2], : like.shape[-1]]


def _half_through_gru(
    gru: ConvGRU, x: Tensor, batch: int, state: Tensor | None
) -> tuple[Tensor, Tensor]:
    """Keep the first half of x [N, 2C, H, W]; run the second half through the GRU over time."""
    kept, recurrent = x.split(gru.channels, dim=1)
    recurrent, state = gru(recurrent.unflatten(0, (batch, -1)), state)
    return torch.cat([kept, recurrent.flatten(0, 1)], dim=1), state


class BottleneckBlock(nn.Module):
    """[N, 128, h/16, w/16] -> same shape; GRU state r4 [B, 64, h/16, w/16]."""

    def __init__(self, channels: int = 128):
        super().__init__()
        self.gru = ConvGRU(channels // 2)

    def forward(self, x: Tensor, batch: int, state: Tensor | None) -> tuple[Tensor, Tensor]:
        return _half_through_gru(self.gru, x, batch, state)


class UpsamplingBlock(nn.Module):
    """Upsample x, join the encoder skip and the pooled image, conv, then GRU on half the channels.

    x [N, in_ch, H/2, W/2], skip [N, skip_ch, H, W], image [N, 3, H, W] -> [N, out_ch, H, W].
    """

    def __init__(self, in_ch: int, skip_ch: int, out_ch: int):
        super().__init__()
        self.conv = nn.Conv2d(in_ch + skip_ch + 3, out_ch, 3, padding=1)
        self.gru = ConvGRU(out_ch // 2)

    def forward(
        self, x: Tensor, skip: Tensor, image: Tensor, batch: int, state: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        x = torch.cat([_upsample_to(x, skip), skip, image], dim=1)
        x = F.relu(self.conv(x))
        return _half_through_gru(self.gru, x, batch, state)


class OutputBlock(nn.Module):
    """x [N, 32, h/2, w/2], image [N, 3, h, w] -> hidden features [N, 16, h, w]."""

    def __init__(self, in_ch: int = 32, out_ch: int = 16):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch + 3, out_ch, 3, padding=1)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)

    def forward(self, x: Tensor, image: Tensor) -> Tensor:
        x = torch.cat([_upsample_to(x, image), image], dim=1)
        return F.relu(self.conv2(F.relu(self.conv1(x))))


class RecurrentDecoder(nn.Module):
    """Encoder features + downsampled image -> hidden features [N, 16, h, w] and new states."""

    def __init__(self):
        super().__init__()
        self.decode4 = BottleneckBlock(128)
        self.decode3 = UpsamplingBlock(128, 40, 80)
        self.decode2 = UpsamplingBlock(80, 24, 40)
        self.decode1 = UpsamplingBlock(40, 16, 32)
        self.decode0 = OutputBlock(32, 16)

    def forward(
        self,
        image: Tensor,
        f1: Tensor,
        f2: Tensor,
        f3: Tensor,
        f4: Tensor,
        batch: int,
        states: tuple[Tensor | None, Tensor | None, Tensor | None, Tensor | None],
    ) -> tuple[Tensor, tuple[Tensor, Tensor, Tensor, Tensor]]:
        r1, r2, r3, r4 = states
        s1 = F.avg_pool2d(image, 2, 2, ceil_mode=True, count_include_pad=False)
        s2 = F.avg_pool2d(s1, 2, 2, ceil_mode=True, count_include_pad=False)
        s3 = F.avg_pool2d(s2, 2, 2, ceil_mode=True, count_include_pad=False)
        x4, r4 = self.decode4(f4, batch, r4)
        x3, r3 = self.decode3(x4, f3, s3, batch, r3)
        x2, r2 = self.decode2(x3, f2, s2, batch, r2)
        x1, r1 = self.decode1(x2, f1, s1, batch, r1)
        hidden = self.decode0(x1, image)
        return hidden, (r1, r2, r3, r4)
