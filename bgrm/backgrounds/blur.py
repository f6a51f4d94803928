"""The room itself as the background, blurred, with the person taken out of it first."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from bgrm.backgrounds.protocol import UnderPlanes
from bgrm.composite import REFERENCE_HEIGHT, gaussian_kernel
from bgrm.media.formats import Colour
from bgrm.media.planes import halved


class BlurredRoom:
    """The room blurred by normalised convolution, so the person leaves no halo in it.

    bg = blur(src * w) / blur(w) with w = 0 on the person, computed at a resolution reduced by an
    integer factor so that large radii stay cheap. Outside the frame counts as no data, so the
    edges are not darkened or smeared. Where blur(w) is ~0 (deep inside a large person,
    hidden anyway) a plain blur of src takes over, so there are no holes or NaNs.

    ``frames`` is ``grow(spread(gather(src, pha)))``: the fused tail runs gather and grow in its
    full-resolution passes and only spread, at the reduced resolution, between them.

    In a video's planes (``planes_under``) the same room is made from Y, U and V: every step is
    linear per channel and the colour conversion affine, so the room's codes are the room of
    the codes (within the RGB path's clipping of colours out of gamut). w, Y and Y * w are
    made at full size and averaged over each 2x2; with U, V and U, V * w they are reduced
    together from the chroma's size to the low grid, spread, and grown back to each plane's
    size: no full-size RGB frame. A room blurred too little to be
    reduced (factor 1) is left to RGB: its detail is finer than the chroma's grid.
    """

    pure = True
    staged = True
    fixed = None  # in the planes: each batch its own room

    CHANNELS = 7
    """Blurred together: src * w (3), w (1), src (3)."""

    FALLBACK_WEIGHT = 0.02
    """Below this blurred weight the plain blur is blended in, reaching it fully at 0."""

    def __init__(
        self,
        radius: float,
        height: int,
        width: int,
        device: torch.device,
        pixel_aspect: float = 1.0,
    ) -> None:
        """``radius``: gaussian standard deviation in pixels at 1080p (vertically; across, in
        pixels ``pixel_aspect`` times as wide, so that the blur is round as shown)."""
        sigma = radius * height / REFERENCE_HEIGHT
        self.factor = max(1, int(sigma / 2))  # reduced-resolution sigma in [2, 4)
        self.low_size = (math.ceil(height / self.factor), math.ceil(width / self.factor))
        self.size = (height, width)
        column, self.half_column = gaussian_kernel(sigma / self.factor, device)
        row, self.half_row = gaussian_kernel(sigma / pixel_aspect / self.factor, device)
        self.column = column.view(1, 1, -1, 1).repeat(self.CHANNELS, 1, 1, 1)  # [7, 1, K, 1]
        self.row = row.view(1, 1, 1, -1).repeat(self.CHANNELS, 1, 1, 1)  # [7, 1, 1, K]
        ones = torch.ones(1, 1, *self.low_size, device=device)
        self.coverage = self._gauss(ones)  # [1, 1, h, w]: share of the kernel inside the frame

    def frames(self, src: Tensor, pha: Tensor, times: Sequence[float]) -> Tensor:
        """src [N, 3, H, W], pha [N, 1, H, W] -> blurred room [N, 3, H, W] in src's dtype."""
        return self.grow(self.spread(self.gather(src, pha)), src.dtype)

    def gather(self, src: Tensor, pha: Tensor) -> Tensor:
        """The full-resolution part: src [N, 3, H, W], pha [N, 1, H, W] -> what is blurred,
        at the reduced resolution [N, 7, h, w] (src * w, w, src)."""
        weight = (1 - 2 * pha).clamp(min=0).square()  # [N, 1, H, W]; 0 where pha >= 0.5
        return torch.cat([self._shrink(src * weight), self._shrink(weight), self._shrink(src)], 1)

    def spread(self, stack: Tensor) -> Tensor:
        """The reduced-resolution part: [N, 7, h, w] -> the room [N, 3, h, w] in float32."""
        blurred = self._gauss(stack.float()) / self.coverage  # [N, 7, h, w]
        weighted, total, plain = blurred.split([3, 1, 3], dim=1)
        room = weighted / total.clamp(min=1e-6)
        trust = (total / self.FALLBACK_WEIGHT).clamp(max=1)
        return torch.lerp(plain, room, trust).clamp(0, 1)

    def grow(self, low: Tensor, dtype: torch.dtype) -> Tensor:
        """[N, 3, h, w] -> [N, 3, H, W] in ``dtype``: back to the frame's size."""
        low = low.to(dtype)
        if self.factor == 1:
            return low
        return F.interpolate(low, size=self.size, mode="bilinear", align_corners=False)

    def in_planes(self, colour: Colour) -> BlurredRoom | None:
        """Itself: the room is blurred in the planes' own codes, whatever their matrix (None:
        RGB only, for a room not reduced)."""
        return self if self.factor > 1 else None

    def planes_under(
        self, y: Tensor, u: Tensor, v: Tensor, alpha: Tensor, times: Sequence[float]
    ) -> UnderPlanes:
        """Y [T, H, W], U, V [T, H / 2, W / 2] uint8, alpha [T, H, W] float -> the blurred
        room's codes, Y [T, H, W] and U, V [T, H / 2, W / 2] in alpha's dtype."""
        weight = (1 - 2 * alpha).clamp_(min=0).square_()  # [T, H, W]
        luma = y.to(alpha.dtype)
        half_weight = halved(weight)  # [T, H / 2, W / 2], as the rest below
        codes = torch.stack([halved(luma), u.to(alpha.dtype), v.to(alpha.dtype)], 1).div_(255)
        weighted = codes * half_weight[:, None]
        weighted[:, 0] = halved(luma.mul_(weight)).div_(255)  # Y's products at full size
        stack = torch.cat([weighted, half_weight[:, None], codes], 1)  # [T, 7, ...] in [0, 1]
        stack = F.interpolate(stack, size=self.low_size, mode="area")  # [T, 7, h, w]
        room = self.spread(stack) * 255  # [T, 3, h, w]: Y, U, V codes
        height, width = self.size
        return (
            self._grown(room[:, :1], (height, width))[:, 0],
            *self._grown(room[:, 1:], (height // 2, width // 2)).unbind(1),
        )

    def close(self) -> None:
        """Nothing to release."""

    def _grown(self, low: Tensor, size: tuple[int, int]) -> Tensor:
        """[N, C, h, w] -> [N, C, *size], bilinear (the low grid covers the frame as ``grow``'s)."""
        return F.interpolate(low, size=size, mode="bilinear", align_corners=False)

    def _shrink(self, x: Tensor) -> Tensor:
        """[N, C, H, W] -> area average [N, C, h, w] at the reduced resolution."""
        if self.factor == 1:
            return x
        return F.interpolate(x, size=self.low_size, mode="area")

    def _gauss(self, x: Tensor) -> Tensor:
        """Separable gaussian, zeros outside the frame: [N, C, h, w] -> [N, C, h, w], C <= 7."""
        c = x.shape[1]
        x = F.conv2d(x, self.column[:c], padding=(self.half_column, 0), groups=c)
        return F.conv2d(x, self.row[:c], padding=(0, self.half_row), groups=c)
