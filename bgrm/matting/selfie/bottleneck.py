"""The encoder's building block: MobileNetV3's inverted residual with squeeze-and-excitation."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bgrm.matting.selfie.conv import SameConv2d


class SqueezeExcite(nn.Module):
    """Channel attention: x [N, C, H, W] * sigmoid(fc2(relu(fc1(mean over H, W))))."""

    def __init__(self, channels: int, squeezed: int):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, squeezed, 1)
        self.fc2 = nn.Conv2d(squeezed, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        scale = self.fc2(F.relu(self.fc1(x.mean((2, 3), keepdim=True))))
        return x * torch.sigmoid(scale)


class InvertedResidual(nn.Module):
    """1x1 expand -> depthwise k x k (stride) -> squeeze-excite (optional) -> 1x1 project.

    x [N, in_ch, H, W] -> [N, out_ch, H / stride, W / stride]; the input is added back when the
    shapes allow. ``hardswish`` picks the activation of the expansion and the depthwise step
    (ReLU otherwise); the projection is linear. Batch norm is folded into the convolutions.
    """

    def __init__(
        self,
        in_ch: int,
        expanded: int,
        out_ch: int,
        kernel: int,
        stride: int,
        squeezed: int | None,
        hardswish: bool,
    ):
        super().__init__()
        self.expand = nn.Conv2d(in_ch, expanded, 1)
        self.depthwise = SameConv2d(expanded, expanded, kernel, stride, groups=expanded)
        self.excite = SqueezeExcite(expanded, squeezed) if squeezed else None
        self.project = nn.Conv2d(expanded, out_ch, 1)
        self.act = F.hardswish if hardswish else F.relu
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x: Tensor) -> Tensor:
        y = self.act(self.depthwise(self.act(self.expand(x))))
        if self.excite is not None:
            y = self.excite(y)
        y = self.project(y)
        return x + y if self.residual else y
