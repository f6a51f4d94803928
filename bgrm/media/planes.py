"""A decoded frame as the codec gave it: its Y, U, V planes, and the model's input made from them.

    small = scaled_rgb(frame, (288, 512), colour, "BILINEAR")   # uint8 [288, 512, 3]
    planes = planes_of(frame)   # uint8 [H * 3 / 2, W]: Y, then U and V (4:2:0), packed

The model sees a frame of a few hundred pixels a side: FFmpeg's scaler makes it from the planes
in one pass (2-3 ms at 1080p), where a full-size RGB frame made float and resized in torch cost
~20 ms. Frames that stay in the codec's planes (bgrm/finish/planes.py) are 8-bit 4:2:0 of even
size, shown as stored (no rotation): ``keeps_planes`` says which. FFmpeg's own conversions
between the planes and RGB, for work done in the planes that must agree with them:
``rgb_tables`` (its yuv420p -> rgb24, exact), ``rgb_from_codes`` and ``codes_from_rgb``
(both ways as affine maps, fitted).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import av
import numpy as np

from bgrm.media.formats import Colour

if TYPE_CHECKING:
    from torch import Tensor


@dataclass(frozen=True)
class ModelInput:
    """What the model is given of each frame: its size (height, width, upright) and swscale's
    filter that makes it (the network's ``input_filter``)."""

    size: tuple[int, int]
    filter: str


PLANE_FORMATS = frozenset({"yuv420p", "yuvj420p"})
"""Decoded formats whose planes the output's encoder takes as they are (8-bit 4:2:0)."""


def scaled_rgb(
    frame: av.VideoFrame, size: tuple[int, int], colour: Colour, scaler: str
) -> np.ndarray:
    """The frame at ``size`` (height, width, as stored) in RGB, by swscale's filter ``scaler``:
    uint8 [h, w, 3], converted with the video's own matrix and range."""
    height, width = size
    return frame.to_ndarray(
        format="rgb24",
        width=width,
        height=height,
        interpolation=scaler,
        src_colorspace=colour.sws_matrix,
        src_color_range=colour.range,
    )


def keeps_planes(pix_fmt: str, height: int, width: int, rotation: int) -> bool:
    """Whether frames of this format, stored size and display rotation go to a 4:2:0 output as
    their own planes (8-bit 4:2:0, even sides, shown as stored)."""
    return pix_fmt in PLANE_FORMATS and height % 2 == 0 and width % 2 == 0 and rotation == 0


def split(planes, height: int, width: int) -> tuple:
    """yuv420p frames uint8 [T, H * 3 / 2, W] (numpy or torch) -> views Y [T, H, W], U, V
    [T, H / 2, W / 2]."""
    flat = planes.reshape(planes.shape[0], -1)
    area = height * width
    quarter = area // 4
    y = flat[:, :area].reshape(-1, height, width)
    u = flat[:, area : area + quarter].reshape(-1, height // 2, width // 2)
    v = flat[:, area + quarter :].reshape(-1, height // 2, width // 2)
    return y, u, v


def covered_planes(
    planes: np.ndarray,
    stored: tuple[int, int],
    box: tuple[int, int, int, int],
    colour: Colour,
    size: tuple[int, int],
    into: Colour,
) -> np.ndarray:
    """yuv420p planes uint8 [h * 3 / 2, w] of ``stored`` size (h, w) in ``colour``'s matrix
    and range -> their part in ``box`` (top, left, height, width) scaled to ``size`` (H, W) in
    ``into``'s, by one swscale call (bilinear): uint8 [H * 3 / 2, W]. An odd top or left
    takes the chroma from the sample before it (half a chroma sample off)."""
    top, left, height, width = box
    y, u, v = (plane[0] for plane in split(planes[None], *stored))
    half = (
        slice(top // 2, top // 2 + (height + 1) // 2),
        slice(left // 2, left // 2 + (width + 1) // 2),
    )
    frame = av.VideoFrame(width, height, "yuv420p")
    parts = (y[top : top + height, left : left + width], u[half], v[half])
    for plane, part in zip(frame.planes, parts, strict=True):
        rows = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)
        rows[:, : part.shape[1]] = part
    return frame.reformat(
        width=size[1],
        height=size[0],
        format="yuv420p",
        src_colorspace=colour.sws_matrix,
        dst_colorspace=into.sws_matrix,
        src_color_range=colour.range,
        dst_color_range=into.range,
        interpolation="BILINEAR",
    ).to_ndarray()


def halved(plane: Tensor) -> Tensor:
    """Float [T, H, W] -> the mean of each 2x2 [T, H / 2, W / 2] (strided adds: faster on the
    CPU than a pooling kernel)."""
    quads = [plane[:, i::2, j::2] for i in (0, 1) for j in (0, 1)]
    return (quads[0] + quads[1]).add_(quads[2]).add_(quads[3]).mul_(0.25)


def rgb_in_planes(rgb: np.ndarray, colour: Colour) -> np.ndarray:
    """An RGB picture uint8 [H, W, 3] (even sides) -> its yuv420p planes uint8 [1, H * 3 / 2,
    W] in ``colour``'s matrix and range, converted as the encoder converts RGB (swscale)."""
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    converted = frame.reformat(
        format="yuv420p", dst_colorspace=colour.sws_matrix, dst_color_range=colour.range
    )
    return converted.to_ndarray()[None]


def planes_of(frame: av.VideoFrame) -> np.ndarray:
    """An 8-bit 4:2:0 frame's planes, packed as FFmpeg's yuv420p array: uint8 [H * 3 / 2, W]
    (Y [H, W], then U and V [H / 2, W / 2] each, row after row)."""
    return frame.to_ndarray()


@lru_cache(maxsize=2)
def rgb_tables(colour: Colour) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FFmpeg's yuv420p -> rgb24 in ``colour``'s matrix and range as tables, exact: uint8 R
    [256 V, 256 Y], G [256 V, 256 U, 256 Y], B [256 U, 256 Y] (its R reads Y and V only, B Y
    and U only, G all three; chroma repeated over its 2x2). Made by converting one 4096x4096
    frame that holds every (Y, U, V): each 16x16 block every Y over one (U, V) pair."""
    luma = np.tile(np.arange(256, dtype=np.uint8).reshape(16, 16), (256, 256))
    steps = np.repeat(np.arange(256, dtype=np.uint8), 8)  # 2048: each chroma over 8 samples
    u = np.broadcast_to(steps, (2048, 2048))
    v = np.ascontiguousarray(u.T)
    packed = np.concatenate([luma.ravel(), u.ravel(), v.ravel()]).reshape(-1, 4096)
    rgb = av.VideoFrame.from_ndarray(packed, format="yuv420p").to_ndarray(
        format="rgb24", src_colorspace=colour.sws_matrix, src_color_range=colour.range
    )
    by_pair = rgb.reshape(256, 16, 256, 16, 3).transpose(0, 2, 1, 3, 4).reshape(256, 256, 256, 3)
    return (
        np.ascontiguousarray(by_pair[:, 0, :, 0]),  # U = 0
        np.ascontiguousarray(by_pair[..., 1]),
        np.ascontiguousarray(by_pair[0, :, :, 2]),  # V = 0
    )


@lru_cache(maxsize=8)
def rgb_from_codes(colour: Colour) -> np.ndarray:
    """FFmpeg's yuv420p -> rgb24 in ``colour``'s matrix and range as an affine map, float64
    [3, 4]: each RGB code ~= row . (Y, U, V, 1), chroma repeated over its 2x2. Fitted to
    FFmpeg's own conversion of every (U, V) pair (random Y) where it does not clip; rounded
    and clamped, a seventh to a third of the codes differ from FFmpeg's by one (its fixed
    point rounds its own way), a handful by two."""
    chroma = np.arange(256, dtype=np.uint8)
    u, v = (c.copy() for c in np.meshgrid(chroma, chroma))  # [256, 256]: every pair
    luma = np.random.default_rng(0).integers(0, 256, (512, 512), dtype=np.uint8)
    frame = av.VideoFrame.from_ndarray(
        np.concatenate([luma.ravel(), u.ravel(), v.ravel()]).reshape(-1, 512), format="yuv420p"
    )
    rgb = frame.to_ndarray(
        format="rgb24", src_colorspace=colour.sws_matrix, src_color_range=colour.range
    ).reshape(-1, 3)
    up = [np.repeat(np.repeat(c, 2, 0), 2, 1).ravel() for c in (u, v)]
    terms = np.stack([luma.ravel(), *up, np.ones(luma.size)], 1).astype(np.float64)
    inside = ((rgb > 0) & (rgb < 255)).all(-1)
    fitted, *_ = np.linalg.lstsq(terms[inside], rgb[inside].astype(np.float64), rcond=None)
    return fitted.T


@lru_cache(maxsize=8)
def codes_from_rgb(colour: Colour) -> np.ndarray:
    """The encoder's rgb24 -> yuv420p in ``colour``'s matrix and range (swscale, as
    ``rgb_in_planes``) as an affine map, float64 [3, 4]: Y, U, V codes ~= row . (R, G, B, 1),
    R, G, B codes; fitted to swscale's conversion of a sweep of flat colours (8x8 blocks, read
    in their middle: its chroma filter reaches into the neighbours)."""
    levels = np.arange(0, 256, 15, dtype=np.uint8)  # 18 levels a channel
    rgb = np.stack(np.meshgrid(levels, levels, levels), -1).reshape(54, 108, 3)
    planes = rgb_in_planes(np.repeat(np.repeat(rgb, 8, 0), 8, 1), colour)
    y, u, v = split(planes, 432, 864)
    codes = np.stack([y[0, 4::8, 4::8], u[0, 2::4, 2::4], v[0, 2::4, 2::4]], -1)
    terms = np.concatenate([rgb.reshape(-1, 3), np.ones((rgb.size // 3, 1))], 1)
    fitted, *_ = np.linalg.lstsq(
        terms.astype(np.float64), codes.reshape(-1, 3).astype(np.float64), rcond=None
    )
    return fitted.T
