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
FFmpeg's own conversion to RGB does). The foreground is the frame itself for a model whose a, b
hold the alpha's alone (the selfie model), and RVM's predicted foreground otherwise, made in
the planes from its colour coefficients (``ForegroundFields``): ``PlanePath.person`` gives
both, the blend is the same. Torch code: the same on the CPU and on a GPU.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from bgrm.backgrounds.protocol import Background, PlaneBackground
from bgrm.media.formats import FULL, Colour
from bgrm.media.planes import codes_from_rgb, halved, rgb_from_codes, split


def guide_weights(colour: Colour) -> tuple[float, float, float, float]:
    """(wy, wu, wv, w0): mean(R, G, B) in [0, 1] ~= wy * Y + wu * U + wv * V + w0 for the 8-bit
    codes of a video in ``colour``'s matrix and range: the mean of the rows of FFmpeg's own
    conversion to RGB as fitted (``rgb_from_codes``; a least-squares fit is linear in what it
    fits, so this is the fit of the mean), the planes' guide the RGB path's within rounding."""
    return tuple(float(w) for w in rgb_from_codes(colour).mean(0) / 255)


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


class ForegroundFields:
    """How RVM's predicted foreground reads in the planes of a video in ``colour``.

    RVM's foreground is fgr_c = src_c + a_c * src_c + b_c for each RGB channel c (a, b
    upsampled bilinearly). With src_c = sum_k N_ck plane_k + n_c (FFmpeg's conversion to RGB,
    affine) and the encoder's RGB -> YUV (M, affine), the foreground's plane p is the frame's
    own plus sum_k C_pk * plane_k + D_p, where C_pk = sum_c M_pc a_c N_ck and D_p = sum_c M_pc
    (b_c + a_c n_c) are linear in a and b: combined at the model's resolution, then upsampled
    (bilinear upsampling is linear too). The clamp of fgr to [0, 1] per RGB channel has no
    per-plane form: the foreground is clamped to the legal code range instead."""

    def __init__(self, colour: Colour):
        rgb = torch.tensor(rgb_from_codes(colour), dtype=torch.float64) / 255  # [3 c, 4]
        codes = torch.tensor(codes_from_rgb(colour), dtype=torch.float64)  # [3 p, 4]
        from_rgb = codes[:, :3] * 255  # [3 p, 3 c]: codes per unit of R, G, B
        gains = torch.einsum("pc,ck->pkc", from_rgb, rgb[:, :3])  # C_pk's weights of a_c
        shift = from_rgb * rgb[:, 3]  # [3 p, 3 c]: D_p's weights of a_c
        of_a = torch.cat([gains, shift[:, None]], dim=1)  # [3 p, 4, 3 c]
        of_b = torch.cat([torch.zeros(3, 3, 3, dtype=torch.float64), from_rgb[:, None]], 1)
        self.weights = torch.cat([of_a, of_b], dim=2).flatten(0, 1).float()  # [12, 6]
        full = colour.range == FULL
        self.luma_range = (0.0, 255.0) if full else (16.0, 235.0)
        self.chroma_range = (0.0, 255.0) if full else (16.0, 240.0)

    def fields(self, a: Tensor, b: Tensor) -> Tensor:
        """a, b [T, 4, h, w] (RGB's, then the alpha's) -> [T, 3 p, 4, h, w]: C_p0, C_p1,
        C_p2, D_p for the planes p = Y, U, V, at the model's resolution (one matrix product
        of the six colour coefficients)."""
        count, _, height, width = a.shape
        colour = torch.cat([a[:, :3], b[:, :3]], dim=1).float().flatten(2)  # [T, 6, h * w]
        fields = torch.matmul(self.weights.to(a.device), colour)  # [T, 12, h * w]
        return fields.view(count, 3, 4, height, width)

    def foreground(
        self, a: Tensor, b: Tensor, y: Tensor, u: Tensor, v: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """a, b [T, 4, h, w], the planes Y [T, H, W], U, V [T, H / 2, W / 2] uint8 -> the
        foreground's planes, float, the same sizes, clamped to the legal code range."""
        count, height, width = y.shape
        fields = self.fields(a, b)  # [T, 3, 4, h, w]
        up = F.interpolate(
            fields[:, 0], size=(height, width), mode="bilinear", align_corners=False
        )  # [T, 4, H, W]
        luma = y.float()
        fg_y = torch.addcmul(luma, up[:, 0], luma).add_(up[:, 3])
        by_chroma = fg_y.view(count, height // 2, 2, width // 2, 2)
        for field, plane in ((up[:, 1], u), (up[:, 2], v)):
            by_chroma.addcmul_(field.view_as(by_chroma), plane[:, :, None, :, None])
        half = (height // 2, width // 2)
        up = F.interpolate(
            fields[:, 1:].flatten(1, 2), size=half, mode="bilinear", align_corners=False
        )  # [T, 8, H / 2, W / 2]: U's four fields, then V's
        terms = (halved(luma), u.float(), v.float())  # Y over each 2x2
        chroma = []
        for gains, plane in zip(up.split(4, dim=1), terms[1:], strict=True):
            fg = torch.add(plane, gains[:, 3])
            for gain, term in zip(gains.unbind(1)[:3], terms, strict=True):
                fg.addcmul_(gain, term)
            chroma.append(fg.clamp_(*self.chroma_range))
        return fg_y.clamp_(*self.luma_range), chroma[0], chroma[1]


def blend_plane(plane: Tensor, under: Tensor | float, alpha: Tensor, out: Tensor) -> None:
    """plane [T, h, w] (uint8, or float in [0, 255], then overwritten) over ``under``
    (broadcastable) with alpha [T, h, w] -> ``out`` uint8 [T, h, w], rounded (in place, no
    broadcasting kernel: the fast ones)."""
    mixed = plane.to(alpha.dtype).sub_(under).mul_(alpha).add_(under + 0.5)
    out.copy_(mixed)  # in [0.5, 255.5): the cast truncates, so this rounds


class PlanePath:
    """The composite of frames of height x width in one colour description over one background,
    straight in yuv420p planes."""

    def __init__(self, under: PlaneBackground, colour: Colour, height: int, width: int):
        self.under = under
        self.weights = guide_weights(colour)
        self.fields = ForegroundFields(colour)
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

    def person(
        self, a: Tensor, b: Tensor, y: Tensor, u: Tensor, v: Tensor
    ) -> tuple[Tensor, tuple[Tensor, Tensor, Tensor]]:
        """a, b [T, C, h, w], the planes Y [T, H, W], U, V [T, H / 2, W / 2] uint8 -> the
        alpha [T, H, W] float in [0, 1] and the foreground's planes: the frame's own (a, b of
        one channel: the selfie model's), or RVM's prediction (float, ForegroundFields)."""
        alpha = plane_alpha(a, b, y, u, v, self.weights)
        if a.shape[1] == 1:
            return alpha, (y, u, v)
        return alpha, self.fields.foreground(a, b, y, u, v)

    def composite(self, a: Tensor, b: Tensor, planes: Tensor, times: Sequence[float]) -> Tensor:
        """a, b [T, C, h, w] (the alpha's coefficients the last channel), planes uint8
        [T, H * 3 / 2, W] on the same device, each frame's time in seconds from the input's
        first -> the composite, uint8 [T, H * 3 / 2, W]."""
        y, u, v = split(planes, *self.size)
        alpha, (fg_y, fg_u, fg_v) = self.person(a, b, y, u, v)
        under_y, under_u, under_v = self.under.planes_under(y, u, v, alpha, times)
        out = torch.empty_like(planes)
        out_y, out_u, out_v = split(out, *self.size)
        if under_y is None and fg_y is y:  # the room's own luma under the frame's: as it is
            out_y.copy_(y)
        else:
            blend_plane(fg_y, y if under_y is None else under_y, alpha, out_y)
        subsampled = chroma_alpha(alpha)
        blend_plane(fg_u, under_u, subsampled, out_u)
        blend_plane(fg_v, under_v, subsampled, out_v)
        return out
