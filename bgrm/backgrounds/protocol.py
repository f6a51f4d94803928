"""The one protocol every background answers (colour, image, video, the room blurred or in gray),
so the pipeline and the fused tail treat them alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import torch
    from torch import Tensor

    from bgrm.media.formats import Colour

UnderPlanes = tuple["Tensor | None", "Tensor | float", "Tensor | float"]
"""A background in a video's yuv420p planes, as floats of its 8-bit codes: Y [1, H, W] (None:
the frame's own luma), U and V [1, H / 2, W / 2] (or one value each)."""


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

    def in_planes(self, colour: Colour) -> UnderPlanes | None:
        """This background in the planes of a video in ``colour``'s matrix and range, where it
        is the same in every frame (bgrm/finish/planes.py); None: only in RGB."""
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
