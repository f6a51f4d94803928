"""The bottleneck head: the deepest features gated by their global average (as in LR-ASPP)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class GatedHead(nn.Module):
    """f4 [N, 32, h, w] -> [N, 128, h, w]: relu(conv(f4)) * sigmoid(conv(mean(f4)))."""

    def __init__(self, in_ch: int = 32, out_ch: int = 128):
        super().__init__()
        self.branch = nn.Conv2d(in_ch, out_ch, 1)
        self.gate = nn.Conv2d(in_ch, out_ch, 1)

    def forward(self, x: Tensor) -> Tensor:
        gate = torch.sigmoid(self.gate(x.mean((2, 3), keepdim=True)))
        return F.relu(self.branch(x)) * gate
