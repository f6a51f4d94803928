"""The room itself as the background, its colour taken out: its luma only."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from bgrm.composite import luma


class GrayRoom:
    """The frame's own picture in gray; under the person, the person is composited over it."""

    pure = True
    staged = False

    def frames(self, src: Tensor, pha: Tensor, times: Sequence[float]) -> Tensor:
        """src [N, 3, H, W] -> its luma as gray RGB [N, 3, H, W]."""
        return luma(src)

    def close(self) -> None:
        """Nothing to release."""
