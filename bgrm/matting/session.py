"""A loaded model on a device plus its recurrent state: feed clips in order, get mattes back."""

from __future__ import annotations

import torch
from torch import Tensor

from bgrm.matting.model import MattingNetwork


class MattingSession:
    """Runs the model over consecutive batches of one video, carrying the recurrent state.

    The state is the temporal smoothing: because it flows from batch to batch, the batch size
    changes speed, never the result. Inputs and outputs are float32 whatever the precision.
    """

    def __init__(
        self,
        model: MattingNetwork,
        device: torch.device,
        downsample_ratio: float,
        precision: str = "fp32",
    ):
        model.set_precision(precision)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # sizes are fixed for a whole video
            model = model.to(memory_format=torch.channels_last)
        self.model = model.to(device).eval()
        self.device = device
        self.downsample_ratio = downsample_ratio
        self.precision = precision
        self.dtype = torch.float32
        self._state: tuple[Tensor | None, ...] = (None, None, None, None)

    def reset(self) -> None:
        """Forget the recurrent state (start of a new video)."""
        self._state = (None, None, None, None)

    @torch.inference_mode()
    def step(self, src: Tensor) -> tuple[Tensor, Tensor]:
        """src [T, 3, H, W] float in [0, 1] on the device -> fgr [T, 3, H, W], pha [T, 1, H, W]."""
        fgr, pha, *state = self.model(
            src.unsqueeze(0), *self._state, downsample_ratio=self.downsample_ratio
        )
        self._state = tuple(state)
        return fgr[0], pha[0]
