"""The one protocol every background answers (colour, image, video, the room blurred or in gray),
so the pipeline and the fused tail treat them alike."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import torch
    from torch import Tensor

    from bgrm.media.formats import Colour

UnderPlanes = tuple["Tensor | None", "Tensor | float", "Tensor | float"]
"""A background in a video's yuv420p planes, as its 8-bit codes (uint8 or float): Y [T or 1, H,
W] (None: the frame's own luma), U and V [T or 1, H / 2, W / 2] (or one value each)."""


class PlaneBackground(Protocol):
    """A background in the planes of a video in one matrix and range (bgrm/finish/planes.py):
    what lies under each batch. ``fixed``: the planes where they are the same under every
    batch (the fused tail compiles its pass over them), None where each batch makes its own."""

    fixed: UnderPlanes | None

    def planes_under(
        self, y: Tensor, u: Tensor, v: Tensor, alpha: Tensor, times: Sequence[float]
    ) -> UnderPlanes:
        """The batch's planes Y [T, H, W], U, V [T, H / 2, W / 2] uint8, its alpha [T, H, W]
        float and each frame's time in seconds from the input's first -> the planes under it."""
        ...


@dataclass(frozen=True)
class FixedPlanes:
    """The same planes under every batch (a colour or an image converted once, the gray room)."""

    planes: UnderPlanes

    @property
    def fixed(self) -> UnderPlanes:
        """The planes."""
        return self.planes

    def planes_under(
        self, y: Tensor, u: Tensor, v: Tensor, alpha: Tensor, times: Sequence[float]
    ) -> UnderPlanes:
        """The planes, whatever the batch."""
        return self.planes


class Background(Protocol):
    """A background for one frame size, on one device.

    ``pure``: ``frames`` is tensor maths of src and pha alone (no file, no state), so the
    fused tail (bgrm/finish/fused.py) computes it inside its one pass; the others are given
    pha None and computed before. ``staged``: ``frames`` is ``grow(spread(gather(src, pha)))``
    (see StagedBackground), so the fused tail runs gather and grow in its passes and only the
    reduced-resolution ``spread`` between them.
    """

    pure: bool
    staged: bool

    def frames(self, src: Tensor, pha: Tensor, times: Sequence[float]) -> Tensor:
        """src [N, 3, H, W], pha [N, 1, H, W] float on the device, and each frame's time in
        seconds from the input's first frame -> bg [N, 3, H, W], possibly an expanded view."""
        ...

    def in_planes(self, colour: Colour) -> PlaneBackground | None:
        """This background in the planes of a video in ``colour``'s matrix and range
        (bgrm/finish/planes.py); None: only in RGB."""
        ...

    def close(self) -> None:
        """Release what the background holds (a decoding thread)."""
        ...


class StagedBackground(Background, Protocol):
    """A pure background computed in three stages, the middle one at a reduced resolution."""

    def gather(self, src: Tensor, pha: Tensor) -> Tensor:
        """src [N, 3, H, W], pha [N, 1, H, W] -> what the middle stage needs [N, C, h, w]."""
        ...

    def spread(self, stack: Tensor) -> Tensor:
        """[N, C, h, w] -> the background at the reduced resolution [N, 3, h, w]."""
        ...

    def grow(self, low: Tensor, dtype: torch.dtype) -> Tensor:
        """[N, 3, h, w] -> [N, 3, H, W] in ``dtype``."""
        ...
