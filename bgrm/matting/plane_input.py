"""RVM's input made from a frame's yuv420p planes, as it is made from the full RGB frame.

    make = PlaneInput(colour, height, width, 0.25)   # once per video
    base = make(planes)   # uint8 [T, H * 3 / 2, W] -> float [T, 3, h, w] in [0, 1]

RVM's input is torch's bilinear resize without antialiasing (``MattingNetwork.model_input``) of
the RGB frame FFmpeg converts from the planes (rgb24, chroma repeated over its 2x2). That
resize reads two rows and two columns of the frame for each row and column it makes, so only
those samples are needed: their Y and their chroma (at row // 2, column // 2) are gathered
into a [2h, 2w] tap image, converted to RGB codes by FFmpeg's own tables (``rgb_tables``:
exactly its codes), and weighted as torch weights them: equal to today's input within float
rounding, and no full-size RGB frame is made. Torch code: the same on the CPU and on a GPU.
"""

from __future__ import annotations

import torch
from torch import Tensor

from bgrm.media.formats import Colour
from bgrm.media.planes import rgb_tables, split


def bilinear_taps(size: int, ratio: float) -> tuple[Tensor, Tensor, Tensor]:
    """The two source indices (int64 [n] each) and the second one's weight (float [n]) that
    torch's bilinear resize (align_corners=False, scale_factor=ratio, not recomputed) reads
    for each of the n = int(size * ratio) outputs along one axis of ``size`` samples."""
    count = int(size * ratio)
    scale = torch.tensor(1.0 / ratio, dtype=torch.float32)  # as torch holds it (float)
    source = ((torch.arange(count, dtype=torch.float32) + 0.5) * scale - 0.5).clamp_(min=0.0)
    first = source.long()
    second = torch.clamp(first + 1, max=size - 1)
    return first, second, source - first


class PlaneInput:
    """The model's input [T, 3, h, w] from yuv420p frames of height x width in ``colour``, at
    ``ratio`` (h, w = int(height * ratio), int(width * ratio))."""

    def __init__(self, colour: Colour, height: int, width: int, ratio: float):
        self.size = (height, width)
        rows, cols = (bilinear_taps(n, ratio) for n in (height, width))
        self._rows = torch.stack(rows[:2])  # [2, h]
        self._cols = torch.stack(cols[:2])  # [2, w]
        self._row_weight, self._col_weight = rows[2], cols[2]
        self._tables = [torch.from_numpy(t).flatten() for t in rgb_tables(colour)]

    def __call__(self, planes: Tensor) -> Tensor:
        """uint8 [T, H * 3 / 2, W] on any device -> float [T, 3, h, w] in [0, 1] there."""
        device = planes.device
        self._to(device)
        rows, cols = self._rows, self._cols
        y, u, v = split(planes, *self.size)
        y = self._gather(y, rows, cols)  # int64 [T, 2h, 2w]
        u, v = (self._gather(c, rows // 2, cols // 2) for c in (u, v))
        red, green, blue = self._tables
        uy = torch.add(y, u, alpha=256)  # B's index, then G's
        codes_b = blue.take(uy)
        codes_g = green.take(uy.add_(v, alpha=65536))
        codes_r = red.take(y.add_(v, alpha=256))
        rgb = torch.stack([codes_r, codes_g, codes_b], dim=1)  # uint8 [T, 3, 2h, 2w]: its codes
        count, _, height, width = rgb.shape
        taps = rgb.float().div_(255).view(count, 3, 2, height // 2, 2, width // 2)
        across = self._col_weight
        top = torch.lerp(taps[:, :, 0, :, 0], taps[:, :, 0, :, 1], across)
        bottom = torch.lerp(taps[:, :, 1, :, 0], taps[:, :, 1, :, 1], across)
        return torch.lerp(top, bottom, self._row_weight[:, None])

    def _to(self, device: torch.device) -> None:
        """The indices, weights and tables moved to ``device`` (once)."""
        if self._rows.device != device:
            self._rows, self._cols = self._rows.to(device), self._cols.to(device)
            self._row_weight = self._row_weight.to(device)
            self._col_weight = self._col_weight.to(device)
            self._tables = [t.to(device) for t in self._tables]

    @staticmethod
    def _gather(plane: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
        """plane uint8 [T, H, W], rows [2, h], cols [2, w] -> int64 [T, 2h, 2w]: the samples
        at (rows[i], cols[j]), rows and columns in the order given."""
        return plane[:, rows.flatten()][:, :, cols.flatten()].long()
