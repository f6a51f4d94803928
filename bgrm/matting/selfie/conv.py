"""A convolution padded like TensorFlow's SAME: output size ceil(input / stride), and where the
padding is odd the extra row and column go at the end (bottom, right)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class SameConv2d(nn.Conv2d):
    """nn.Conv2d whose padding is worked out per input the way TensorFlow Lite pads.

    x [N, in_ch, H, W] -> [N, out_ch, ceil(H / stride), ceil(W / stride)]. With stride 1 the
    padding is symmetric and fixed; with stride 2 on an even size, PyTorch's symmetric padding
    would shift the sampling grid by a pixel against the trained weights.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1):
        super().__init__(in_ch, out_ch, kernel, stride, padding=0, groups=groups)

    def forward(self, x: Tensor) -> Tensor:
        pad_h = _same_padding(x.shape[-2], self.kernel_size[0], self.stride[0])
        pad_w = _same_padding(x.shape[-1], self.kernel_size[1], self.stride[1])
        if pad_h != (0, 0) or pad_w != (0, 0):
            x = F.pad(x, (*pad_w, *pad_h))
        return super().forward(x)


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) padding along one axis of ``size`` pixels."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2
