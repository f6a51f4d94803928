"""The composite in the output's planes: the decoded Y, U, V blended over a background in YUV.

    path = PlanePath.open(background, colour, height, width)   # None: the RGB path runs
    out = path.composite(a, b, planes, times)   # uint8 [T, H * 3 / 2, W], yuv420p

The blend is linear, so it holds per plane: Y at full size with the alpha, U and V at their
own (half) size with the alpha subsampled as swscale subsamples the RGB composite's chroma
for the encoder (``chroma_alpha``: the person's edge in the chroma where today's RGB path has
it). The background gives its planes under each batch (``Background.in_planes``): a colour or
an image converted into the video's matrix and range once (by the same swscale call the
encoder's RGB input would go through), a video's frames scaled by swscale straight into them,
the blurred room blurred in them (linear too); the encoder takes the result as it is. The
alpha comes from the guided filter's
coefficients a, b as in ``DeepGuidedFilterRefiner.refine``, its guide the mean of R, G and B
computed from the planes (a linear function of Y, U and V, chroma repeated over its 2x2 as
FFmpeg's own conversion to RGB does). A model whose foreground is the frame (a, b of the alpha
alone: the selfie model) is exact here; where the frame is not the foreground (RVM's
prediction), the RGB path runs. Torch code: the same on the CPU and on a GPU.
"""

from __future__ import annotations

from collections.abc import Sequence

import av
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from bgrm.backgrounds.protocol import Background, PlaneBackground
from bgrm.media.formats import Colour
from bgrm.media.planes import split


def guide_weights(colour: Colour) -> tuple[float, float, float, float]:
    """(wy, wu, wv, w0): mean(R, G, B) in [0, 1] ~= wy * Y + wu * U + wv * V + w0 for the 8-bit
    codes of a video in ``colour``'s matrix and range, as FFmpeg's own conversion to RGB gives
    it (its tables round in their own way: fitted to it, on a sweep of codes it converts
    without clipping, so the planes' guide is the RGB path's within rounding)."""
    codes = np.arange(16, 240, 7, dtype=np.uint8)  # 32 levels
    y, u, v = (c.reshape(80, 160) for c in np.meshgrid(codes, codes[6:-6], codes[6:-6]))
    luma = np.repeat(np.repeat(y, 2, 0), 2, 1)  # [160, 320]: each chroma sample on a 2x2
    packed = np.concatenate([luma.ravel(), u.ravel(), v.ravel()]).reshape(-1, 320)
    frame = av.VideoFrame.from_ndarray(packed, format="yuv420p")
    rgb = frame.to_ndarray(
        format="rgb24", src_colorspace=colour.sws_matrix, src_color_range=colour.range
    ).astype(np.float64)
    inside = ((rgb > 0) & (rgb < 255)).all(-1)
    up = [np.repeat(np.repeat(c, 2, 0), 2, 1)[inside] for c in (u, v)]
    terms = np.stack([luma[inside], *up, np.ones(int(inside.sum()))], 1).astype(np.float64)
    fitted, *_ = np.linalg.lstsq(terms, rgb[inside].mean(-1) / 255, rcond=None)
    return tuple(float(w) for w in fitted)


def plane_alpha(
    a: Tensor, b: Tensor, y: Tensor, u: Tensor, v: Tensor, weights: tuple[float, ...]
) -> Tensor:
    """The guided filter's full-resolution step on the planes: a, b [T, C, h, w] (the alpha's
    the last channel), Y [T, H, W], U, V [T, H / 2, W / 2] uint8 -> alpha [T, H, W] float in
    [0, 1]: a * mean(R, G, B) + b, a and b upsampled bilinearly."""
    count, height, width = y.shape
    wy, wu, wv, w0 = weights
    chroma = torch.mul(u, wu).add_(v, alpha=wv).add_(w0)  # [T, H/2, W/2] float
    guide = torch.mul(y, wy).view(count, height // 2, 2, width // 2, 2)
    guide.add_(chroma.view(count, height // 2, 1, width // 2, 1))
    coefficients = torch.cat([a[:, -1:], b[:, -1:]], dim=1).float()
    up = F.interpolate(coefficients, size=(height, width), mode="bilinear", align_corners=False)
    alpha = up[:, 0].mul_(guide.view(count, height, width)).add_(up[:, 1])
    return alpha.clamp_(0.0, 1.0)


def chroma_alpha(alpha: Tensor) -> Tensor:
    """alpha [T, H, W] -> [T, H / 2, W / 2], filtered as swscale's rgb24 -> yuv420p (bilinear,
    the encoder's conversion of an RGB composite) filters chroma: the mean of each pair across,
    then rows 2i - 1, 2i, 2i + 1, 2i + 2 weighted 1, 3, 3, 1 (/ 8) down, the edge rows
    repeated (read off its response to impulses). A plain 2x2 mean put the edge's chroma up to
    12/255 off the RGB path over saturated colours."""
    count, height, width = alpha.shape
    rows = alpha.view(count, height, width // 2, 2).sum(-1)  # [T, H, W/2], twice the mean
    out = rows[:, 0::2].add(rows[:, 1::2]).mul_(3.0)  # [T, H/2, W/2]
    out[:, 1:].add_(rows[:, 1:-2:2])  # row 2i - 1
    out[:, :1].add_(rows[:, :1])  # above the top: the top row
    out[:, :-1].add_(rows[:, 2::2])  # row 2i + 2
    out[:, -1:].add_(rows[:, -1:])  # below the bottom: the bottom row
    return out.mul_(1 / 16)


def blend_plane(plane: Tensor, under: Tensor | float, alpha: Tensor, out: Tensor) -> None:
    """uint8 plane [T, h, w] over ``under`` (float, broadcastable) with alpha [T, h, w] ->
    ``out`` uint8 [T, h, w], rounded (in place, no broadcasting kernel: the fast ones)."""
    mixed = plane.to(alpha.dtype).sub_(under).mul_(alpha).add_(under + 0.5)
    out.copy_(mixed)  # in [0.5, 255.5): the cast truncates, so this rounds


class PlanePath:
    """The composite of frames of height x width in one colour description over one background,
    straight in yuv420p planes."""

    def __init__(self, under: PlaneBackground, colour: Colour, height: int, width: int):
        self.under = under
        self.weights = guide_weights(colour)
        self.size = (height, width)

    @classmethod
    def open(
        cls, background: Background, colour: Colour, height: int, width: int
    ) -> PlanePath | None:
        """The plane path over ``background`` (an opened Background), or None where it cannot
        be done in the planes (a background only in RGB, an odd size)."""
        if height % 2 or width % 2:
            return None
        under = background.in_planes(colour)
        return None if under is None else cls(under, colour, height, width)

    def composite(self, a: Tensor, b: Tensor, planes: Tensor, times: Sequence[float]) -> Tensor:
        """a, b [T, C, h, w] (the alpha's coefficients the last channel), planes uint8
        [T, H * 3 / 2, W] on the same device, each frame's time in seconds from the input's
        first -> the composite, uint8 [T, H * 3 / 2, W]."""
        y, u, v = split(planes, *self.size)
        alpha = plane_alpha(a, b, y, u, v, self.weights)
        under_y, under_u, under_v = self.under.planes_under(y, u, v, alpha, times)
        out = torch.empty_like(planes)
        out_y, out_u, out_v = split(out, *self.size)
        if under_y is None:  # the room's own luma: Y stays as it is
            out_y.copy_(y)
        else:
            blend_plane(y, under_y, alpha, out_y)
        subsampled = chroma_alpha(alpha)
        blend_plane(u, under_u, subsampled, out_u)
        blend_plane(v, under_v, subsampled, out_v)
        return out
