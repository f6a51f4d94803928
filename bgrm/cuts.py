"""Cuts found on the way: a streaming shot-boundary detector over small frames on the device.

    detector = CutDetector()
    small = detector_frames(src)      # src [T, 3, H, W] in [0, 1], the frames the model gets
    starts = detector.starts(small)   # batch after batch

A content detector in the manner of PySceneDetect's: each frame is turned into hue, saturation
and value (on OpenCV's 8-bit scales: hue 0-180, the others 0-255), and its content score is the
mean absolute change of the three from the frame before, averaged. A score of ``threshold``
(27, PySceneDetect's default) or more starts a new shot, unless the shot before would be shorter
than ``min_shot`` frames (15, also its default): a flash or a fast pan is not a cut. The state
(the last frame, the frames since the last cut) flows from batch to batch, so the batch size
never changes where the cuts fall. Fades and dissolves are not cuts to this detector.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

THRESHOLD = 27.0
"""A content score from which a frame starts a new shot (PySceneDetect's default)."""

MIN_SHOT = 15
"""Frames a shot has at least; a cut sooner after the last is not one (PySceneDetect's default)."""

LONG_SIDE = 256
"""The detector's frames have a long side of about this many pixels (PySceneDetect's automatic
downscale aims at a width of 256 too)."""


class CutDetector:
    """Finds the frames that start a shot, over consecutive batches of one video."""

    def __init__(self, threshold: float = THRESHOLD, min_shot: int = MIN_SHOT) -> None:
        self.threshold = threshold
        self.min_shot = min_shot
        self.reset()

    def reset(self) -> None:
        """Forget the video so far: the next frame starts a shot (the start of a video)."""
        self._last: Tensor | None = None  # [3, h, w] hue, saturation, value of the last frame
        self._since = 0  # frames since the last shot started

    @property
    def state(self) -> dict[str, Tensor]:
        """What the next frame's score depends on, as named tensors: the last frame's hue,
        saturation and value, and the frames since the last cut; empty at the start."""
        if self._last is None:
            return {}
        return {"cuts.last": self._last, "cuts.since": torch.tensor([self._since])}

    def resume(self, state: dict[str, Tensor], device: torch.device) -> None:
        """Carry on from another detector's :attr:`state` (empty: the start of a video)."""
        self.reset()
        if "cuts.last" in state:
            self._last = state["cuts.last"].to(device)
            self._since = int(state["cuts.since"])

    def scores(self, small: Tensor) -> list[float]:
        """small [T, 3, h, w] float in [0, 1] (``detector_frames``), the next T frames -> each
        one's content score against the frame before it (inf for the first frame of a video).
        Moves the state on."""
        hsv = hsv_of(small)
        before = hsv[:-1] if self._last is None else torch.cat([self._last[None], hsv[:-1]])
        changes = (hsv[len(hsv) - len(before) :] - before).abs().mean(dim=(1, 2, 3)).tolist()
        first = [math.inf] if self._last is None else []
        self._last = hsv[-1]
        return first + changes

    def starts(self, small: Tensor) -> list[int]:
        """small [T, 3, h, w] float in [0, 1] (``detector_frames``), the next T frames -> the
        indices (rising) of those that start a shot: the first frame of a video, and every
        cut."""
        found = []
        for index, score in enumerate(self.scores(small)):
            if score == math.inf or (score >= self.threshold and self._since >= self.min_shot):
                found.append(index)
                self._since = 0
            self._since += 1
        return found


def detector_frames(src: Tensor) -> Tensor:
    """src [T, 3, H, W] -> [T, 3, h, w], the long side at most about LONG_SIDE: every s-th
    pixel of every s-th row, then means of 2x2 of those. It reads a few pixels in a hundred of
    a large frame (a full downscale cost several times more than the whole detector)."""
    step = max(1, math.ceil(max(src.shape[-2:]) / (2 * LONG_SIDE)))
    return F.avg_pool2d(src[:, :, ::step, ::step], 2, ceil_mode=True)


def hsv_of(rgb: Tensor) -> Tensor:
    """rgb [T, 3, h, w] in [0, 1] -> hue (0-180), saturation and value (0-255) [T, 3, h, w], as
    OpenCV computes them for 8-bit pictures."""
    value = rgb.amax(dim=1)
    spread = value - rgb.amin(dim=1)
    safe = spread.clamp_min(1e-6)  # a gray pixel: spread 0, hue and saturation 0
    r, g, b = rgb.unbind(1)
    sector = torch.where(
        r == value, (g - b) / safe, torch.where(g == value, 2 + (b - r) / safe, 4 + (r - g) / safe)
    )
    hue = torch.remainder(sector * 60, 360) / 2
    saturation = spread / value.clamp_min(1e-6)
    return torch.stack([hue, saturation * 255, value * 255], dim=1)
