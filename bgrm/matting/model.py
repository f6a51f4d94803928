"""Robust Video Matting (Lin et al., 2021), MobileNetV3-Large variant.

    fgr, pha, *rec = model(src, *rec, downsample_ratio=0.25)

src [B, T, 3, H, W] in [0, 1]; rec = (r1, r2, r3, r4) recurrent states, None at the start;
fgr [B, T, 3, H, W] is the predicted foreground colour, pha [B, T, 1, H, W] the alpha.
r1..r4 have 16, 20, 40, 64 channels at 1/2, 1/4, 1/8, 1/16 of the downsampled size.

Like the official ONNX export that supplies the weights, the guided-filter refiner runs at every
downsample ratio (at 1.0 it filters at full resolution); that keeps the port equal to it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bgrm.matting.decoder import RecurrentDecoder
from bgrm.matting.lraspp import LRASPP
from bgrm.matting.mobilenetv3 import MobileNetV3LargeEncoder
from bgrm.matting.refiner import DeepGuidedFilterRefiner


class MattingNetwork(nn.Module):
    """Encoder -> LR-ASPP -> recurrent decoder -> projection -> guided-filter refiner."""

    def __init__(self):
        super().__init__()
        # Registration order is execution order; weights.py relies on it to map the ONNX file.
        self.backbone = MobileNetV3LargeEncoder()
        self.aspp = LRASPP(960, 128)
        self.decoder = RecurrentDecoder()
        self.project_mat = nn.Conv2d(16, 4, 1)
        self.refiner = DeepGuidedFilterRefiner(16)

    def forward(
        self,
        src: Tensor,
        r1: Tensor | None = None,
        r2: Tensor | None = None,
        r3: Tensor | None = None,
        r4: Tensor | None = None,
        downsample_ratio: float = 1.0,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
        batch = src.shape[0]
        fine = src.flatten(0, 1)  # [N, 3, H, W], N = B * T
        a, b, *states = self.coefficients(fine, batch, (r1, r2, r3, r4), downsample_ratio)
        fgr, pha = self.refiner.refine(a, b, fine)
        return (fgr.unflatten(0, (batch, -1)), pha.unflatten(0, (batch, -1)), *states)

    frame_is_foreground = False
    """The foreground is predicted (a, b hold its colour's coefficients and the alpha's)."""

    codec_cores = 0
    """Cores a job leaves to its decoder and encoder threads: none, the network is most of a
    frame's work (1080p on a CPU: ~180 of ~290 ms) and gains from every core (two cores, end
    to end: 5.1 frames/s with two torch threads, 3.9 with one)."""

    input_filter = None
    """No swscale filter makes ``model_input``'s frames closely enough (torch's bilinear without
    antialiasing reads two taps a side however large the step): at 1080p, swscale's bilinear
    moved RVM's matte by a mean 2.4/255 with 0.9% of pixels more than 64/255 off (its
    recurrent state carries the difference on), so RVM resizes the full frame itself, or, where
    the frames stay in their planes, bgrm/matting/plane_input.py reads the same taps from them
    (equal within float rounding)."""

    @staticmethod
    def input_size(height: int, width: int, downsample_ratio: float) -> tuple[int, int]:
        """The model's input size (h, w) for frames of height x width."""
        return int(height * downsample_ratio), int(width * downsample_ratio)

    @staticmethod
    def model_input(fine: Tensor, downsample_ratio: float) -> Tensor:
        """fine [N, 3, H, W] -> the model's input [N, 3, h, w] (``input_size``)."""
        if downsample_ratio == 1.0:
            return fine
        return F.interpolate(
            fine,
            scale_factor=downsample_ratio,
            mode="bilinear",
            align_corners=False,
            recompute_scale_factor=False,
        )

    def coefficients(
        self,
        fine: Tensor | None,
        batch: int,
        states: tuple[Tensor | None, ...],
        downsample_ratio: float,
        base: Tensor | None = None,
    ) -> tuple[Tensor, ...]:
        """Everything but the full-resolution step: fine [N, 3, H, W] (N = batch * T frames in
        order), or ``base`` [N, 3, h, w], the frames already at the model's input size (then
        fine may be None) -> the guided filter's coefficients a, b [N, 4, h, w] at the model's
        resolution, then the new states r1..r4. ``states`` is r1..r4, or () at the start of a
        video. ``refiner.refine(a, b, fine)`` gives fgr and pha."""
        states = states or (None, None, None, None)
        if base is None:
            base = self.model_input(fine, downsample_ratio)
        core = base.to(self.project_mat.weight.dtype)  # float16 after set_precision("fp16")
        f1, f2, f3, f4 = self.backbone(core)
        f4 = self.aspp(f4)
        hidden, new_states = self.decoder(core, f1, f2, f3, f4, batch, states)
        base_fgr_res, base_pha = self.project_mat(hidden).split([3, 1], dim=1)
        a, b = self.refiner.coefficients(
            base, base_fgr_res.to(base.dtype), base_pha.to(base.dtype), hidden.to(base.dtype)
        )
        return (a, b, *new_states)

    def set_precision(self, precision: str) -> MattingNetwork:
        """Precision of the encoder and decoder: "fp16" or "fp32" (the default).

        The guided-filter refiner always runs in the input's float32. Converting to float16
        rounds the weights: build.Model keeps a float32 copy and converts a copy of it.

        The refiner's local variances (E[x^2] - E[x]^2) lose too much in float16: with it in
        float16 too, alpha strayed up to 11/255 from float32 on the sample clip. Measured with
        bench/precision.py on the CPU (120 frames of the 176x144 sample): at downsample 0.5 the
        mean error is 0.02/255 (max 4.6/255); at 0.25 (a 44x36 model input) 0.3/255 (max 23/255).
        """
        dtype = torch.float16 if precision == "fp16" else torch.float32
        for part in (self.backbone, self.aspp, self.decoder, self.project_mat):
            part.to(dtype)
        return self
