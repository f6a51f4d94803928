"""The segmenter's encoder: a small MobileNetV3 with features at 1/2, 1/4, 1/8 and 1/16."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from bgrm.matting.selfie.bottleneck import InvertedResidual
from bgrm.matting.selfie.conv import SameConv2d

BLOCKS = (
    # in, expanded, out, kernel, stride, squeezed, hardswish
    (16, 16, 16, 3, 2, 8, False),
    (16, 72, 24, 3, 2, None, False),
    (24, 88, 24, 3, 1, None, False),
    (24, 96, 32, 5, 2, 24, True),
    (32, 128, 32, 5, 1, 32, True),
    (32, 128, 32, 5, 1, 32, True),
    (32, 96, 32, 5, 1, 24, True),
    (32, 96, 32, 5, 1, 24, True),
)
"""The bottlenecks after the stem, as the trained graph has them (read from its shapes)."""

SKIP_AFTER = (0, 2)
"""Blocks whose output is also a decoder skip (1/4 and 1/8); the stem gives the 1/2 one."""


class SelfieEncoder(nn.Module):
    """x [N, 3, H, W] in [0, 1] -> s1 [N, 16, H/2, W/2], s2 [N, 16, H/4, W/4],
    s3 [N, 24, H/8, W/8], f4 [N, 32, H/16, W/16]."""

    def __init__(self):
        super().__init__()
        self.stem = SameConv2d(3, 16, 3, stride=2)
        self.blocks = nn.ModuleList(InvertedResidual(*config) for config in BLOCKS)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        x = F.hardswish(self.stem(x))
        skips = [x]
        for index, block in enumerate(self.blocks):
            x = block(x)
            if index in SKIP_AFTER:
                skips.append(x)
        return skips[0], skips[1], skips[2], x
