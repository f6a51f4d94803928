"""The selfie segmenter as a video matting model, with the interface of RVM's MattingNetwork.

    a, b, *state = network.coefficients(fine, 1, state, downsample_ratio)   # state () at first
    fgr, pha = DeepGuidedFilterRefiner.refine(a, b, fine)

fine [N, 3, H, W] in [0, 1]. A landscape frame (wider than tall) goes to the 144x256 graph, a
portrait or square one to the 256x256 one, squeezed to that size as MediaPipe does. The masks are
smoothed over time (smoothing.py: the state), their levels stretched (the faint halo around the
person and the hesitant middle made firm), then a guided filter against the frame at the reduced
size (H, W times ``downsample_ratio``) gives the soft edge back and with it coefficients a, b
[N, 1, h, w] of the alpha alone: the foreground colour is the frame itself.

The constants were chosen on the sample clips against RVM's matte (bench/selfie_quality.py):
the guided filter's radius 1 and eps 1e-3 gave the smallest difference in a band around RVM's
edge at the sample's own size, and the least flicker at both sizes (radius 3 had 10% better
edges at 1080p for 25% more flicker); the smoothing keeps flicker on still pixels near RVM's
and leaves no trail behind an edge moving 3 px a frame (tests/test_selfie.py).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from bgrm.matting.selfie.guided_filter import guided_coefficients
from bgrm.matting.selfie.segmenter import LANDSCAPE_SIZE, SQUARE_SIZE, SelfieSegmenter
from bgrm.matting.selfie.smoothing import TemporalSmoothing

SMOOTHING = TemporalSmoothing(
    rate=0.1, motion=(4 / 255, 12 / 255), reach=2, hold=0.7, jump=(0.3, 0.6)
)
MASK_LEVELS = (0.2, 0.8)
"""Mask values up to the first become 0, from the second 1, linear between."""
GUIDED_RADIUS = 1
GUIDED_EPS = 1e-3


class SelfieMattingNetwork(nn.Module):
    """Two segmenters (landscape, square) -> temporal smoothing -> guided-filter coefficients."""

    def __init__(self):
        super().__init__()
        self.landscape = SelfieSegmenter()
        self.square = SelfieSegmenter()

    frame_is_foreground = True
    """The foreground is the frame itself (a, b hold the alpha's coefficients only)."""

    codec_cores = 1
    """Cores a job leaves to its decoder and encoder threads: one, the encoder is as much of a
    frame's work as the network and the full-resolution step (1080p on a CPU: ~31 ms against
    ~40), and torch's threads waiting on each other took the encoder's core (two cores, end to
    end: 19.7 frames/s with one torch thread, 15.4 with two)."""

    input_filter = "BILINEAR"
    """swscale's filter that makes the model's input from a frame's planes (media/planes.py)
    closest to ``model_input``'s: a triangle as wide as the scale, as torch's antialiasing.
    At 1080p the mattes moved by a mean 0.2/255 (99.9% of pixels within 20/255, none more
    than 96/255 off) against ``model_input`` (24 frames of the talking head)."""

    @staticmethod
    def input_size(height: int, width: int, downsample_ratio: float) -> tuple[int, int]:
        """The size (h, w) of the guided filter's frames for frames of height x width."""
        return round(height * downsample_ratio), round(width * downsample_ratio)

    @classmethod
    def model_input(cls, fine: Tensor, downsample_ratio: float) -> Tensor:
        """fine [N, 3, H, W] -> the frames at ``input_size`` [N, 3, h, w]."""
        return _resize(fine, cls.input_size(*fine.shape[-2:], downsample_ratio))

    def coefficients(
        self,
        fine: Tensor | None,
        batch: int,
        states: tuple[Tensor, ...],
        downsample_ratio: float,
        base: Tensor | None = None,
    ) -> tuple[Tensor, ...]:
        """fine [N, 3, H, W] (N = batch * T frames in order), or ``base`` [N, 3, h, w], the
        frames already at ``input_size`` (then fine may be None) -> a, b [N, 1, h, w], then the
        smoothing state (mask, luma, motion) [batch, 1, m, n] at the segmenter's size m x n;
        ``states`` is () at the start of a video."""
        if base is None:
            base = self.model_input(fine, downsample_ratio)
        height, width = base.shape[-2:]
        upright = height >= width
        segmenter, size = (
            (self.square, SQUARE_SIZE) if upright else (self.landscape, LANDSCAPE_SIZE)
        )
        small = _resize(base, size)
        masks, state = SMOOTHING(
            segmenter(small).unflatten(0, (batch, -1)),
            small.mean(1, keepdim=True).unflatten(0, (batch, -1)),
            states,
        )
        low, high = MASK_LEVELS
        masks = ((masks.flatten(0, 1) - low) / (high - low)).clamp(0, 1)
        guide = base.mean(1, keepdim=True)
        masks = F.interpolate(masks, size=guide.shape[-2:], mode="bilinear", align_corners=False)
        a, b = guided_coefficients(guide, masks, GUIDED_RADIUS, GUIDED_EPS)
        return (a, b, *state)

    def set_precision(self, precision: str) -> SelfieMattingNetwork:
        """Kept for the interface: the selfie model runs in float32 at every precision (its
        network is a small part of a frame's time; the full-resolution tail is the same)."""
        del precision
        return self


def _resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    """x [N, C, H, W] -> [N, C, *size], bilinear, averaging over the pixels it drops."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
