"""A batch's finished pixels: the composite, the RGBA person and the matte, as uint8 on the host.

    tail = choose_tail("auto", frames, height, width, device, notice)   # fused, or None: eager
    host = finish(matted, {"rgb", "matte"}, background, times, light, tail)
    host = finish_planes(matted, path, times, tail)   # the composite in the output's planes
    host = as_recorded(batch, {"rgb", "matte"})   # a shot without a person: as it came in

Each kind is one compiled pass where the fused tail runs (bgrm/finish/fused.py), and the eager
reference (bgrm/finish/blend.py and bgrm/composite.py) otherwise or wherever it cannot; both
call the same blend, so the pixels agree within 1/255. A batch kept in its yuv420p planes is
composited there (bgrm/finish/planes.py; compiled by the same tail where it pays) and written
as planes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from bgrm.backgrounds import Background
from bgrm.batches import Batch
from bgrm.composite import matte_to_uint8, to_rgba_uint8, to_uint8_hwc
from bgrm.finish.blend import over_background
from bgrm.finish.fused import FusedTail, open_tail
from bgrm.finish.planes import PlanePath
from bgrm.matting.session import Matted
from bgrm.outputs import HostFrames, Pixels

__all__ = [
    "FusedTail",
    "PlanePath",
    "as_recorded",
    "choose_tail",
    "finish",
    "finish_planes",
    "over_background",
]


def choose_tail(
    mode: str,
    frames: int | None,
    height: int,
    width: int,
    device: torch.device,
    cache: Path,
    notice: Callable[[str], None],
    planes: bool = False,
) -> FusedTail | None:
    """The fused tail where ``mode`` ("auto", "on", "off") asks for it or, for "auto", where
    it pays for ``frames`` frames of height x width (composited in the output's planes where
    ``planes``); None for the eager path. A first compile at a frame size is announced
    through ``notice``."""
    tail = open_tail(mode, frames, height, width, device, cache, planes)
    if tail is not None and not tail.warm:
        notice(
            f"compiling the full-resolution tail for {width}x{height} frames "
            f"(once per frame size, then cached)"
        )
    return tail


def finish(
    matted: Matted,
    needs: set[Pixels],
    background: Background | None,
    times: Sequence[float],
    light: float | None,
    tail: FusedTail | None = None,
) -> HostFrames:
    """A batch through the model -> what the outputs need ("rgb", "rgba", "matte") as uint8
    on the host: the composite over ``background`` (at ``times``, seconds from the input's
    first frame; its light wrapping the person's edge ``light`` strong), the RGBA person, the
    matte. With ``tail``, each is one compiled pass; the eager path otherwise."""
    host = HostFrames(matted.batch.pts)
    if "rgb" in needs:
        host.rgb = _composite(matted, background, times, light, tail).cpu().numpy()
    if "rgba" in needs:
        rgba = _fused(tail, "rgba", matted.a, matted.b, matted.src)
        host.rgba = (to_rgba_uint8(matted.fgr, matted.pha) if rgba is None else rgba).cpu().numpy()
    if "matte" in needs:
        matte = _fused(tail, "matte", matted.a, matted.b, matted.src)
        host.matte = (matte_to_uint8(matted.pha) if matte is None else matte).cpu().numpy()
    return host


def finish_planes(
    matted: Matted, path: PlanePath, times: Sequence[float], tail: FusedTail | None = None
) -> HostFrames:
    """A batch kept in its planes (at ``times``, seconds from the input's first frame) -> the
    composite, yuv420p planes uint8 [T, H * 3 / 2, W] on the host (``HostFrames.rgb``, which
    the composite's writer takes as planes); with ``tail``, one compiled pass per frame where
    the foreground is the frame and the background's planes are fixed, eager otherwise."""
    planes = matted.planes
    fixed = path.under.fixed if matted.a.shape[1] == 1 else None
    out = None
    if fixed is not None:
        out = _fused(tail, "planes", matted.a, matted.b, planes, *fixed, path.weights, path.size)
    if out is None:
        out = path.composite(matted.a, matted.b, planes, times)
    return HostFrames(matted.batch.pts, rgb=out.cpu().numpy())


def as_recorded(batch: Batch, needs: set[Pixels]) -> HostFrames:
    """A batch as it was recorded (a shot without a person): the decoded frames themselves for
    the composite (its planes, where it was kept in them) and the RGBA person, fully opaque;
    the matte all 255."""
    host = HostFrames(batch.pts)
    if batch.rgb is None:  # kept in its planes: only a composite is written
        host.rgb = batch.planes
        return host
    opaque = np.full(batch.rgb.shape[:3], 255, dtype=np.uint8)
    if "rgb" in needs:
        host.rgb = batch.rgb
    if "rgba" in needs:
        host.rgba = np.concatenate([batch.rgb, opaque[..., None]], axis=-1)
    if "matte" in needs:
        host.matte = opaque
    return host


def _composite(
    matted: Matted,
    background: Background,
    times: Sequence[float],
    light: float | None,
    tail: FusedTail | None,
) -> Tensor:
    """The composite, uint8 [T, H, W, 3] on the device. A pure background (colour, image,
    blurred room, grayscale) is computed inside the fused pass; a video's frames first."""
    bg = None if background.pure else background.frames(matted.src, None, times)
    if tail is not None:
        fused = tail.composite(matted.a, matted.b, matted.src, bg, background, light)
        if fused is not None:
            return fused
    return to_uint8_hwc(
        over_background(matted.fgr, matted.pha, matted.src, bg, background, times, light)
    )


def _fused(tail: FusedTail | None, kind: str, *args: object) -> Tensor | None:
    """The tail's kernel ``kind`` over ``args``, or None (no tail, or it cannot run)."""
    return None if tail is None else tail.call(kind, *args)
