"""A loaded model plus its recurrent state: feed the batches of one video in order, get the
refiner's coefficients (DeepGuidedFilterRefiner.apply or bgrm/tail.py make the mattes)."""

from __future__ import annotations

import torch
from torch import Tensor

from bgrm.matting.build import Model


class MattingSession:
    """Runs the model over consecutive batches of one video, carrying the recurrent state.

    The state is the temporal smoothing (RVM's GRU states, the selfie model's last mask and
    brightness): because it flows from batch to batch, the batch size changes speed, never the
    result. Inputs and outputs are float32 whatever the precision or the model.
    """

    def __init__(self, model: Model, downsample_ratio: float):
        self.model = model
        self.downsample_ratio = downsample_ratio
        self._state: tuple[Tensor, ...] = ()  # the start of a video, for every network

    def reset(self) -> None:
        """Forget the recurrent state (start of a new video)."""
        self._state = ()

    @torch.inference_mode()
    def coefficients(self, src: Tensor) -> tuple[Tensor, Tensor]:
        """src [T, 3, H, W] float in [0, 1] on the device, the next T frames -> the refiner's
        coefficients a, b [T, 4, h, w] at the model's resolution (see DeepGuidedFilterRefiner)."""
        a, b, *state = self.model.network.coefficients(src, 1, self._state, self.downsample_ratio)
        self._state = tuple(state)
        return a, b
