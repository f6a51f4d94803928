"""Convolutional GRU: the recurrent memory that smooths the matte over time."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ConvGRU(nn.Module):
    """Runs a 3x3 convolutional GRU over a clip.

    x [B, T, C, H, W], h [B, C, H, W] or None (zeros) -> (outputs [B, T, C, H, W], h [B, C, H, W]).
    """

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels
        self.gates = nn.Conv2d(channels * 2, channels * 2, 3, padding=1)
        self.candidate = nn.Conv2d(channels * 2, channels, 3, padding=1)

    def step(self, x: Tensor, h: Tensor) -> Tensor:
        """One time step: x, h [B, C, H, W] -> new h [B, C, H, W]."""
        reset, update = torch.sigmoid(self.gates(torch.cat([x, h], dim=1))).split(
            self.channels, dim=1
        )
        candidate = torch.tanh(self.candidate(torch.cat([x, reset * h], dim=1)))
        return (1 - update) * h + update * candidate

    def forward(self, x: Tensor, h: Tensor | None) -> tuple[Tensor, Tensor]:
        if h is None:
            h = x.new_zeros(x.shape[0], self.channels, x.shape[-2], x.shape[-1])
        outputs = []
        for t in range(x.shape[1]):
            h = self.step(x[:, t], h)
            outputs.append(h)
        return torch.stack(outputs, dim=1), h
