"""Temporal smoothing of a per-frame mask: the recurrent state of the selfie model.

A segmenter that sees one frame at a time jitters where it hesitates (soft edges, hair,
shadows), so a still picture would get a flickering matte. Each new mask is blended into the
last smoothed one with a weight per pixel: ``rate`` where the picture is still; 1 (the new mask
as it is) where the picture moved, for a few frames after it moved (while the segmenter settles
behind a moving edge), and where the new mask is confident (near 0 or 1: a stale soft value
left behind by an edge that moved over a background of the same brightness is dropped at once).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class TemporalSmoothing:
    """rate: the weight of a new mask where the picture is still; motion: the change of
    brightness (0-1) in a pixel's neighbourhood, (low, high), between which the pixel goes from
    still to moved; reach: that neighbourhood's radius in mask pixels; hold: the share of a
    pixel's motion carried to the next frame; confident: |2 * mask - 1| from which a new mask
    is trusted (fully at 1)."""

    rate: float
    motion: tuple[float, float]
    reach: int
    hold: float
    confident: float

    def __call__(
        self, masks: Tensor, luma: Tensor, state: tuple[Tensor, ...]
    ) -> tuple[Tensor, tuple[Tensor, Tensor, Tensor]]:
        """masks, luma [B, T, 1, h, w], frames in order; state () at the start of a video, else
        (mask, luma, motion) [B, 1, h, w] after the last frame -> smoothed masks
        [B, T, 1, h, w], the new state."""
        if state:
            mask, last_luma, motion = state
        else:
            mask, last_luma = masks[:, 0], luma[:, 0]
            motion = torch.zeros_like(mask)
        smoothed = []
        for t in range(masks.shape[1]):
            motion = torch.maximum(self.moved(luma[:, t], last_luma), motion * self.hold)
            trust = torch.maximum(motion, self.sure(masks[:, t]))
            mask = torch.lerp(mask, masks[:, t], self.rate + (1 - self.rate) * trust)
            last_luma = luma[:, t]
            smoothed.append(mask)
        return torch.stack(smoothed, dim=1), (mask, last_luma, motion)

    def moved(self, luma: Tensor, last_luma: Tensor) -> Tensor:
        """[B, 1, h, w]: 0 where the picture is still, 1 where it moved, a ramp between."""
        change = F.max_pool2d((luma - last_luma).abs(), 2 * self.reach + 1, 1, self.reach)
        low, high = self.motion
        return ((change - low) / (high - low)).clamp(0, 1)

    def sure(self, mask: Tensor) -> Tensor:
        """[B, 1, h, w]: 0 where the mask hesitates, rising to 1 where it is 0 or 1."""
        return (((2 * mask - 1).abs() - self.confident) / (1 - self.confident)).clamp(0, 1)
