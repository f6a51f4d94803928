"""Temporal smoothing of a per-frame mask: the recurrent state of the selfie model.

A segmenter that sees one frame at a time jitters where it hesitates (soft edges, hair,
shadows), so a still picture would get a flickering matte. Each new mask is blended into the
last smoothed one with a weight per pixel: ``rate`` where the picture is still and the mask
only jitters; 1 (the new mask as it is) where the picture moved, for a few frames after it
moved (while the segmenter settles behind a moving edge), and where the mask jumped (an edge
that moved over a background of its own brightness, a person appearing: events, not jitter).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class TemporalSmoothing:
    """rate: the weight of a new mask where nothing happened; motion: the change of brightness
    (0-1) in a pixel's neighbourhood, (low, high), between which the pixel goes from still to
    moved; reach: that neighbourhood's radius in mask pixels; hold: the share of a pixel's
    motion carried to the next frame; jump: the change of the mask, (low, high), between which
    it goes from jitter to an event."""

    rate: float
    motion: tuple[float, float]
    reach: int
    hold: float
    jump: tuple[float, float]

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
            change = F.max_pool2d((luma[:, t] - last_luma).abs(), 2 * self.reach + 1, 1, self.reach)
            motion = torch.maximum(_ramp(change, self.motion), motion * self.hold)
            trust = torch.maximum(motion, _ramp((masks[:, t] - mask).abs(), self.jump))
            mask = torch.lerp(mask, masks[:, t], self.rate + (1 - self.rate) * trust)
            last_luma = luma[:, t]
            smoothed.append(mask)
        return torch.stack(smoothed, dim=1), (mask, last_luma, motion)


def _ramp(x: Tensor, bounds: tuple[float, float]) -> Tensor:
    """0 up to bounds[0], 1 from bounds[1], linear between."""
    low, high = bounds
    return ((x - low) / (high - low)).clamp(0, 1)
