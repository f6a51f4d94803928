"""The room itself as the background, its colour taken out: its luma only."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from bgrm.backgrounds.protocol import FixedPlanes
from bgrm.composite import luma
from bgrm.media.formats import Colour


class GrayRoom:
    """The frame's own picture in gray; under the person, the person is composited over it."""

    pure = True
    staged = False

    def frames(self, src: Tensor, pha: Tensor, times: Sequence[float]) -> Tensor:
        """src [N, 3, H, W] -> its luma as gray RGB [N, 3, H, W]."""
        return luma(src)

    def in_planes(self, colour: Colour) -> FixedPlanes:
        """The frame's own luma, no colour: neutral chroma, 128 in every range."""
        return FixedPlanes((None, 128.0, 128.0))

    def close(self) -> None:
        """Nothing to release."""
