"""Lite R-ASPP bottleneck: 960 encoder channels -> 128, gated by a global context vector."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class LRASPP(nn.Module):
    """f4 [N, 960, h, w] -> [N, 128, h, w]: relu(conv(f4)) * sigmoid(conv(mean(f4)))."""

    def __init__(self, in_ch: int = 960, out_ch: int = 128):
        super().__init__()
        self.branch = nn.Conv2d(in_ch, out_ch, 1)
        self.gate = nn.Conv2d(in_ch, out_ch, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        gate = torch.sigmoid(self.gate(F.adaptive_avg_pool2d(x, 1)))
        return F.relu(self.branch(x)) * gate
