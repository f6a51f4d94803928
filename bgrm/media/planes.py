"""A decoded frame as the codec gave it: its Y, U, V planes, and the model's input made from them.

    small = scaled_rgb(frame, (288, 512), colour, "BILINEAR")   # uint8 [288, 512, 3]
    planes = planes_of(frame)   # uint8 [H * 3 / 2, W]: Y, then U and V (4:2:0), packed

The model sees a frame of a few hundred pixels a side: FFmpeg's scaler makes it from the planes
in one pass (2-3 ms at 1080p), where a full-size RGB frame made float and resized in torch cost
~20 ms. Frames that stay in the codec's planes (bgrm/finish/planes.py) are 8-bit 4:2:0 of even
size, shown as stored (no rotation): ``keeps_planes`` says which.
"""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np

from bgrm.media.formats import Colour


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
