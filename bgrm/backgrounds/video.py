"""A video as the background: its frames picked by time, looped, decoded as they are needed."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from itertools import count

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from bgrm.composite import from_uint8_hwc
from bgrm.errors import InputError
from bgrm.media.decode import read_frames
from bgrm.media.formats import Colour
from bgrm.media.probe import probe
from bgrm.places import Place
from bgrm.stages import Prefetcher


class Playing:
    """The background frame shown at each time of the input, scaled to cover the frame.

    Time runs from the first frame of each file, so a 60 frames/s background behind a
    30 frames/s input plays at its own speed. When the background ends it starts again, and
    ``on_loop`` is called once. The file is decoded in a thread of its own, a few frames ahead.
    """

    pure = False
    staged = False

    def __init__(
        self,
        path: Place,
        height: int,
        width: int,
        device: torch.device,
        on_loop: Callable[[float], None] = lambda seconds: None,
        pixel_aspect: float = 1.0,
    ) -> None:
        self.path = path
        self.size = (height, width)
        self.pixel_aspect = pixel_aspect
        self.device = device
        try:
            self._time_base = probe(self.path).time_base
        except InputError as error:
            raise InputError(f"background video: {error}") from None
        self._on_loop = on_loop
        self._timeline = Prefetcher(self._play_forever(), depth=4, name="background")
        self._frames = iter(self._timeline)
        self._current = next(self._frames)
        self._next = next(self._frames)

    def frames(self, src: Tensor, pha: Tensor, times: Sequence[float]) -> Tensor:
        """Times in seconds from the input's first frame, rising -> [N, 3, H, W] on the device."""
        picked = []
        for time in times:
            while self._next[0] <= time:
                self._current, self._next = self._next, next(self._frames)
            picked.append(self._current[1])
        uploaded = torch.from_numpy(np.stack(picked)).to(self.device)
        return cover(from_uint8_hwc(uploaded, src.dtype), *self.size, self.pixel_aspect)

    def in_planes(self, colour: Colour) -> None:
        """Not the same in every frame: composited in RGB."""
        return None

    def close(self) -> None:
        """Stop decoding."""
        self._timeline.stop()

    def _play_forever(self) -> Iterator[tuple[float, np.ndarray]]:
        """(seconds from the first frame, uint8 [h, w, 3]) for ever, the file played in a loop."""
        offset = 0.0
        for lap in count():
            if lap == 1:
                self._on_loop(offset)
            first_pts = None
            last, step = 0.0, 0.0
            for frame in _background_frames(self.path):
                first_pts = frame.pts if first_pts is None else first_pts
                time = float((frame.pts - first_pts) * self._time_base)
                step = time - last if time > last else step
                last = time
                yield offset + time, frame.rgb
            if first_pts is None:
                raise InputError(f"no frames in the background video: {self.path}")
            offset += last + (step or 1 / 30)


def _background_frames(path: Place) -> Iterator:
    """read_frames of the background video, its errors said to be the background's."""
    try:
        yield from read_frames(path)
    except InputError as error:
        raise InputError(f"background video: {error}") from None


def cover(frames: Tensor, height: int, width: int, pixel_aspect: float = 1.0) -> Tensor:
    """[N, 3, h, w] -> [N, 3, height, width]: scaled to cover, centre-cropped, never stretched
    as shown (the target's pixels are ``pixel_aspect`` times as wide as high)."""
    h, w = frames.shape[-2:]
    if (h, w) == (height, width) and pixel_aspect == 1:
        return frames
    shown = width * pixel_aspect
    scale = max(shown / w, height / h)
    crop_h, crop_w = min(h, round(height / scale)), min(w, round(shown / scale))
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    cropped = frames[..., top : top + crop_h, left : left + crop_w]
    scaled = F.interpolate(
        cropped.float(), size=(height, width), mode="bilinear", align_corners=False, antialias=True
    )
    return scaled.clamp_(0, 1).to(frames.dtype)
