"""The person over a new background: the one blend that the eager path and the fused kernels
both call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from torch import Tensor

from bgrm.composite import composite, light_wrap

if TYPE_CHECKING:
    from bgrm.backgrounds import Background


def over_background(
    fgr: Tensor,
    pha: Tensor,
    src: Tensor,
    bg: Tensor | None,
    background: Background,
    times: Sequence[float],
    light: float | None,
) -> Tensor:
    """The person over the new background: fgr [N, 3, H, W], pha [N, 1, H, W], src [N, 3, H, W]
    -> [N, 3, H, W]. ``bg``: the background's frames, or None to ask ``background`` for them
    (at ``times``); ``light``: the light wrap's strength, or None."""
    if bg is None:
        bg = background.frames(src, pha, times)
    if light is not None:
        fgr = light_wrap(fgr, pha, bg, light)
    return composite(fgr, pha, bg)
