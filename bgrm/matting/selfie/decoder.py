"""The segmenter's decoder: three upsampling blocks that join the encoder's skips under a
channel attention, then a transposed convolution to the input's size and a sigmoid."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class DecoderBlock(nn.Module):
    """x [N, in_ch, h/2, w/2], skip [N, out_ch, h, w] -> [N, out_ch, h, w].

    x is upsampled to the skip's size and projected (p); the skip, weighted per channel by an
    attention computed from skip + p, is added to p; then a 1x1 conv with ReLU (y) and a
    depthwise 3x3 residual: y + relu(dw(y)).
    """

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.project = nn.Conv2d(in_ch, out_ch, 1)
        self.attend1 = nn.Conv2d(out_ch, out_ch, 1)
        self.attend2 = nn.Conv2d(out_ch, out_ch, 1)
        self.mix = nn.Conv2d(out_ch, out_ch, 1)
        self.depthwise = nn.Conv2d(out_ch, out_ch, 3, padding=1, groups=out_ch)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        p = self.project(x)
        pooled = (skip + p).mean((2, 3), keepdim=True)
        attention = torch.sigmoid(self.attend2(F.relu(self.attend1(pooled))))
        y = F.relu(self.mix(skip * attention + p))
        return y + F.relu(self.depthwise(y))


class SelfieDecoder(nn.Module):
    """head [N, 128, H/16, W/16] with skips s1 [N, 16, H/2, W/2], s2 [N, 16, H/4, W/4],
    s3 [N, 24, H/8, W/8] -> mask [N, 1, H, W] in (0, 1)."""

    def __init__(self):
        super().__init__()
        self.up3 = DecoderBlock(128, 24)
        self.up2 = DecoderBlock(24, 16)
        self.up1 = DecoderBlock(16, 16)
        self.out = nn.ConvTranspose2d(16, 1, 2, stride=2)

    def forward(self, x: Tensor, s1: Tensor, s2: Tensor, s3: Tensor) -> Tensor:
        x = self.up1(self.up2(self.up3(x, s3), s2), s1)
        return torch.sigmoid(self.out(x))
