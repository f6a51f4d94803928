"""MobileNetV3-Large encoder, as Robust Video Matting uses it.

Batch norm is folded into the convolutions (the trained weights come that way), so every
convolution that had one carries a bias instead. The last stage trades its stride for a
dilation of 2, so the deepest features sit at 1/16 of the input rather than 1/32.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _make_divisible(value: float, divisor: int = 8) -> int:
    """Round channel counts the way MobileNet does: to a multiple of 8, never below 90%."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


class ConvAct(nn.Sequential):
    """Convolution (batch norm folded in) followed by an activation, or none."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel: int,
        stride: int = 1,
        groups: int = 1,
        dilation: int = 1,
        act: type[nn.Module] | None = nn.ReLU,
    ):
        padding = (kernel - 1) // 2 * dilation
        layers: list[nn.Module] = [
            nn.Conv2d(in_ch, out_ch, kernel, stride, padding, dilation=dilation, groups=groups)
        ]
        if act is not None:
            layers.append(act())
        super().__init__(*layers)


class SqueezeExcitation(nn.Module):
    """Channel attention: global average -> fc1 -> ReLU -> fc2 -> hard sigmoid -> scale."""

    def __init__(self, channels: int):
        super().__init__()
        squeezed = _make_divisible(channels // 4)
        self.fc1 = nn.Conv2d(channels, squeezed, 1)
        self.fc2 = nn.Conv2d(squeezed, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        scale = F.adaptive_avg_pool2d(x, 1)
        scale = self.fc2(F.relu(self.fc1(scale)))
        return x * F.hardsigmoid(scale)


@dataclass(frozen=True)
class BlockConfig:
    in_ch: int
    kernel: int
    expanded: int
    out_ch: int
    use_se: bool
    hardswish: bool
    stride: int
    dilation: int


# MobileNetV3-Large, with the last stage dilated instead of strided (output stride 16).
LARGE_BLOCKS = (
    BlockConfig(16, 3, 16, 16, False, False, 1, 1),
    BlockConfig(16, 3, 64, 24, False, False, 2, 1),
    BlockConfig(24, 3, 72, 24, False, False, 1, 1),
    BlockConfig(24, 5, 72, 40, True, False, 2, 1),
    BlockConfig(40, 5, 120, 40, True, False, 1, 1),
    BlockConfig(40, 5, 120, 40, True, False, 1, 1),
    BlockConfig(40, 3, 240, 80, False, True, 2, 1),
    BlockConfig(80, 3, 200, 80, False, True, 1, 1),
    BlockConfig(80, 3, 184, 80, False, True, 1, 1),
    BlockConfig(80, 3, 184, 80, False, True, 1, 1),
    BlockConfig(80, 3, 480, 112, True, True, 1, 1),
    BlockConfig(112, 3, 672, 112, True, True, 1, 1),
    BlockConfig(112, 5, 672, 160, True, True, 1, 2),
    BlockConfig(160, 5, 960, 160, True, True, 1, 2),
    BlockConfig(160, 5, 960, 160, True, True, 1, 2),
)


class InvertedResidual(nn.Module):
    """Expand 1x1 -> depthwise kxk -> optional SE -> project 1x1; residual when shapes match."""

    def __init__(self, cfg: BlockConfig):
        super().__init__()
        act = nn.Hardswish if cfg.hardswish else nn.ReLU
        layers: list[nn.Module] = []
        if cfg.expanded != cfg.in_ch:
            layers.append(ConvAct(cfg.in_ch, cfg.expanded, 1, act=act))
        layers.append(
            ConvAct(
                cfg.expanded,
                cfg.expanded,
                cfg.kernel,
                stride=cfg.stride,
                groups=cfg.expanded,
                dilation=cfg.dilation,
                act=act,
            )
        )
        if cfg.use_se:
            layers.append(SqueezeExcitation(cfg.expanded))
        layers.append(ConvAct(cfg.expanded, cfg.out_ch, 1, act=None))
        self.block = nn.Sequential(*layers)
        self.residual = cfg.stride == 1 and cfg.in_ch == cfg.out_ch

    def forward(self, x: Tensor) -> Tensor:
        out = self.block(x)
        return out + x if self.residual else out


class MobileNetV3LargeEncoder(nn.Module):
    """Image [N, 3, H, W] in [0, 1] -> features at 1/2, 1/4, 1/8, 1/16.

    Returns f1 [N, 16, H/2, W/2], f2 [N, 24, H/4, W/4], f3 [N, 40, H/8, W/8],
    f4 [N, 960, H/16, W/16] (sizes rounded up).
    """

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = [ConvAct(3, 16, 3, stride=2, act=nn.Hardswish)]
        layers += [InvertedResidual(cfg) for cfg in LARGE_BLOCKS]
        layers.append(ConvAct(160, 960, 1, act=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), False)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        x = (x - self.mean) / self.std
        x = self.features[:2](x)
        f1 = x
        x = self.features[2:4](x)
        f2 = x
        x = self.features[4:7](x)
        f3 = x
        f4 = self.features[7:](x)
        return f1, f2, f3, f4
