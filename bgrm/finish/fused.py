"""The full-resolution tail in one pass: from the refiner's coefficients to the writers' uint8.

After the network, every frame goes through the guided filter's full-resolution step
(a and b upsampled, a * x + b, plus the frame, clamped), the background, the light wrap, the
composite and the conversion to uint8 HWC: eager, each is a pass over full-resolution float
tensors (``DeepGuidedFilterRefiner.refine``, bgrm/finish/blend.py and bgrm/composite.py: the
reference, and the fallback). Here the same maths is one function per output kind (composite,
RGBA, matte), compiled with ``torch.compile`` (inductor) into fused loops that read the
low-resolution coefficients and the frame and write the uint8 pixels. A pure background
(colour, image, blurred room, grayscale) is computed inside; a video background's frames are
handed in. The composite in the output's yuv420p planes (bgrm/finish/planes.py) is one more
kernel ("planes"): the alpha's full-resolution step, the blend of Y, U and V and the uint8
planes in one pass.

Compiling costs seconds (cached on disk in bgrm's cache folder, so far less the second time),
so it is used only where it pays: ``compile="auto"`` compiles when the frames times the saving
per frame exceed the expected compile time; "on" always, "off" never. Where compiling fails
(no C compiler, an unsupported device), the eager path runs and a debug line says why.
Frames go through one at a time, so the shapes stay fixed for a whole video and nothing is
compiled again per batch. On CUDA the same code runs when asked ("on"); it is unmeasured
there, so "auto" leaves CUDA eager.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from bgrm.composite import matte_to_uint8, to_rgba_uint8, to_uint8_hwc
from bgrm.finish.blend import over_background
from bgrm.finish.planes import chroma_alpha
from bgrm.media.planes import split

if TYPE_CHECKING:
    from bgrm.backgrounds import Background

log = logging.getLogger("bgrm.finish")

SAVING_S_PER_PIXEL = {"rgb": 8e-9, "planes": 4e-9}
"""Time the fused tail saves per pixel of a frame on two cores, by path. RGB: 17-37 ms of the
main thread's time per 1080p frame (2.07 Mpixel) by background kind (bench/tail.py), of which
9-25 ms per frame shows end to end (bench/tail.py --end-to-end: the encoder's thread overlaps
the rest). Planes: the composite in the output's planes, 18.7 ms eager and 10.6-11.1 compiled a
1080p frame on one thread (bench/pixelpath.py --height 1080: its full-resolution step)."""

COMPILE_S = {"cold": 25.0, "warm": 8.0}
"""Expected cost of compiling in a new process on two cores: from scratch (20-25 s), and with
inductor's cache on disk (8 s end to end, most of it starting dynamo and inductor)."""


def rgb_kernel(
    a: Tensor,
    b: Tensor,
    src: Tensor,
    bg: Tensor | None,
    background: Background,
    light: float | None,
) -> Tensor:
    """a, b [1, 4 or 1, h, w]; src [1, 3, H, W] float; bg [1, 3, H, W], or None where the
    ``background`` is pure and computed here from src and the alpha; ``light``: the light
    wrap's strength, or None -> the composite, uint8 [1, H, W, 3]."""
    fgr, pha = _refine(a, b, src)
    return to_uint8_hwc(over_background(fgr, pha, src, bg, background, (), light))


def gather_kernel(a: Tensor, b: Tensor, src: Tensor, background: Background) -> Tensor:
    """For a background done in stages (the blurred room): its full-resolution part, from the
    frame and the alpha -> its reduced-resolution input (see BlurredRoom.gather)."""
    _, pha = _refine(a, b, src)
    return background.gather(src, pha)


def grown_kernel(
    a: Tensor, b: Tensor, src: Tensor, low: Tensor, background: Background, light: float | None
) -> Tensor:
    """The composite over a staged background, from its reduced-resolution result ``low``
    (grown to the frame's size here) -> uint8 [1, H, W, 3]."""
    return rgb_kernel(a, b, src, background.grow(low, src.dtype), background, light)


def rgba_kernel(a: Tensor, b: Tensor, src: Tensor) -> Tensor:
    """-> the person, straight-alpha RGBA uint8 [1, H, W, 4]; colour 0 where alpha is 0."""
    return to_rgba_uint8(*_refine(a, b, src))


def matte_kernel(a: Tensor, b: Tensor, src: Tensor) -> Tensor:
    """-> the matte, uint8 [1, H, W]."""
    return matte_to_uint8(_refine(a, b, src)[1])


def planes_kernel(
    a: Tensor,
    b: Tensor,
    planes: Tensor,
    under_y: Tensor | None,
    under_u: Tensor | float,
    under_v: Tensor | float,
    weights: tuple[float, ...],
    size: tuple[int, int],
) -> Tensor:
    """The composite in yuv420p planes, PlanePath.composite's maths written without in-place
    ops (which keep inductor from fusing): a, b [1, C, h, w] (the alpha's the last channel),
    planes uint8 [1, H * 3 / 2, W], the background's planes (UnderPlanes), the guide's
    weights (guide_weights), size (H, W) -> the composite, uint8 [1, H * 3 / 2, W]."""
    y, u, v = split(planes, *size)
    count, height, width = y.shape
    wy, wu, wv, w0 = weights
    chroma = (u * wu + v * wv + w0).view(count, height // 2, 1, width // 2, 1)
    guide = ((y * wy).view(count, height // 2, 2, width // 2, 2) + chroma).view(y.shape)
    up_a, up_b = (
        F.interpolate(c[:, -1:], size=size, mode="bilinear", align_corners=False)[:, 0]
        for c in (a, b)
    )
    alpha = (up_a * guide + up_b).clamp(0, 1)
    subsampled = chroma_alpha(alpha)
    out_y = y if under_y is None else _blend(y, under_y, alpha)
    out = (out_y, _blend(u, under_u, subsampled), _blend(v, under_v, subsampled))
    return torch.cat([plane.flatten(1) for plane in out], 1).view(planes.shape)


def _blend(plane: Tensor, under: Tensor | float, alpha: Tensor) -> Tensor:
    """uint8 plane over ``under`` with ``alpha`` -> uint8, rounded (as blend_plane)."""
    return ((plane - under) * alpha + (under + 0.5)).to(torch.uint8)


def _refine(a: Tensor, b: Tensor, src: Tensor) -> tuple[Tensor, Tensor]:
    """The guided filter at full resolution, written so that inductor fuses it (no cat); a, b
    of one channel hold the alpha's only (the foreground is the frame)."""
    size = src.shape[-2:]
    up_a = F.interpolate(a, size=size, mode="bilinear", align_corners=False)
    up_b = F.interpolate(b, size=size, mode="bilinear", align_corners=False)
    if a.shape[1] == 1:
        return src, (up_a * src.mean(1, keepdim=True) + up_b).clamp(0, 1)
    fgr = (up_a[:, :3] * src + up_b[:, :3] + src).clamp(0, 1)
    pha = (up_a[:, 3:] * src.mean(1, keepdim=True) + up_b[:, 3:]).clamp(0, 1)
    return fgr, pha


KERNELS: dict[str, Callable[..., Tensor]] = {
    "rgb": rgb_kernel,
    "gather": gather_kernel,
    "grown": grown_kernel,
    "rgba": rgba_kernel,
    "matte": matte_kernel,
    "planes": planes_kernel,
}


class FusedTail:
    """The compiled kernels for frames of one size (``call`` returns None once compiling has
    failed, and the caller goes eager).

    cache: bgrm's cache folder; inductor keeps its compiled code under cache/inductor (unless
    TORCHINDUCTOR_CACHE_DIR says otherwise), and a marker there per frame size says it is warm.
    """

    _compiled: dict[str, Callable[..., Tensor]] = {}
    """Per process: each kernel wrapped once; dynamo keeps one compiled graph per shape."""

    unavailable = False
    """Set for the whole process once compiling has failed (no C compiler): not tried again."""

    def __init__(self, cache: Path, height: int, width: int, planes: bool = False) -> None:
        self.failed = FusedTail.unavailable
        inductor = Path(os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache / "inductor")))
        kind = "-planes" if planes else ""  # the planes' kernel, or the RGB ones
        self.marker = inductor / "bgrm" / f"{height}x{width}{kind}-torch{torch.__version__}.ok"

    @property
    def warm(self) -> bool:
        """Whether kernels for this frame size were compiled here before (inductor's cache on
        disk holds them, so compiling again takes seconds, not tens of seconds)."""
        return self.marker.is_file()

    def call(self, kind: str, *args: object) -> Tensor | None:
        """Kernel ``kind`` over a batch, frame by frame (N = 1 shapes, so a short last batch
        compiles nothing new): tensors [N, ...] are split by frame, [1, ...] ones and other
        arguments shared. Returns the frames stacked, or None where the kernel cannot run
        (compiling failed)."""
        if self.failed:
            return None
        kernel = self._compiled.get(kind)
        if kernel is None:
            kernel = self._compiled[kind] = torch.compile(KERNELS[kind], dynamic=False)
        count = args[0].shape[0]
        try:
            frames = [kernel(*(_frame(arg, i) for arg in args)) for i in range(count)]
        except Exception as error:  # no compiler, a backend that cannot: the eager path runs
            log.debug("fused tail unavailable, eager from now on: %s: %s", type(error), error)
            self.failed = FusedTail.unavailable = True
            return None
        self._mark()
        return frames[0] if count == 1 else torch.cat(frames)

    def composite(
        self,
        a: Tensor,
        b: Tensor,
        src: Tensor,
        bg: Tensor | None,
        background: Background,
        light: float | None,
    ) -> Tensor | None:
        """The composite uint8 [N, H, W, 3] (see ``rgb_kernel``); a staged background runs its
        reduced-resolution part eagerly between two fused passes."""
        if bg is not None or not background.staged:
            return self.call("rgb", a, b, src, bg, background, light)
        stack = self.call("gather", a, b, src, background)
        if stack is None:
            return None
        return self.call("grown", a, b, src, background.spread(stack), background, light)

    def _mark(self) -> None:
        if self.marker.is_file():
            return
        try:
            self.marker.parent.mkdir(parents=True, exist_ok=True)
            self.marker.touch()
        except OSError as error:
            log.debug("cannot note the compiled kernels: %s", error)


def _frame(arg: object, index: int) -> object:
    """Frame ``index`` of a per-frame tensor, or the argument itself when it is shared."""
    if isinstance(arg, Tensor) and arg.shape[0] > 1:
        return arg[index : index + 1]
    return arg


def should_compile(
    mode: str,
    frames: int | None,
    height: int,
    width: int,
    warm: bool = False,
    planes: bool = False,
) -> bool:
    """Whether compiling pays for a video: "on"/"off" say so; "auto" when the saving over all
    its frames exceeds the expected compile time (warm: compiled here before; planes: the
    composite is made in the output's planes, not in RGB)."""
    if mode != "auto":
        return mode == "on"
    if not frames:
        return False
    saving = frames * height * width * SAVING_S_PER_PIXEL["planes" if planes else "rgb"]
    return saving > COMPILE_S["warm" if warm else "cold"]


def open_tail(
    mode: str,
    frames: int | None,
    height: int,
    width: int,
    device: torch.device,
    cache: Path,
    planes: bool = False,
) -> FusedTail | None:
    """The fused tail for a video of ``frames`` frames of height x width (its composite made
    in the output's planes where ``planes``), or None where the eager path should run
    (``mode`` "off", or "auto" and compiling would not pay)."""
    tail = FusedTail(cache, height, width, planes)
    if tail.failed:
        return None
    if device.type == "cuda":  # unmeasured there: compile only when asked
        return tail if mode == "on" else None
    return tail if should_compile(mode, frames, height, width, tail.warm, planes) else None
