"""A video as the background: its frames picked by time, looped, decoded as they are needed."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from itertools import count

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from bgrm.backgrounds.protocol import UnderPlanes
from bgrm.composite import from_uint8_hwc
from bgrm.errors import InputError
from bgrm.media.decode import read_frames
from bgrm.media.formats import Colour
from bgrm.media.planes import covered_planes, split
from bgrm.media.probe import probe
from bgrm.places import Place
from bgrm.stages import Prefetcher


class Playing:
    """The background frame shown at each time of the input, scaled to cover the frame.

    Time runs from the first frame of each file, so a 60 frames/s background behind a
    30 frames/s input plays at its own speed. When the background ends it starts again, and
    ``on_loop`` is called once. The file is decoded in a thread of its own, a few frames ahead:
    as RGB, or once ``in_planes`` is asked, scaled by swscale straight into the output's planes
    (then ``planes_under`` gives them and ``frames`` no longer does).
    """

    pure = False
    staged = False
    fixed = None  # in the planes: each batch its own frames

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
            self._info = probe(self.path)
        except InputError as error:
            raise InputError(f"background video: {error}") from None
        self._on_loop = on_loop
        self._play(lambda: ((frame.pts, frame.rgb) for frame in _background_frames(self.path)))

    def frames(self, src: Tensor, pha: Tensor, times: Sequence[float]) -> Tensor:
        """Times in seconds from the input's first frame, rising -> [N, 3, H, W] on the device."""
        uploaded = torch.from_numpy(np.stack(self._picked(times))).to(self.device)
        return cover(from_uint8_hwc(uploaded, src.dtype), *self.size, self.pixel_aspect)

    def in_planes(self, colour: Colour) -> Playing | None:
        """Itself, from now on decoding each frame into the planes of a video in ``colour``'s
        matrix and range at the frame's size: cropped as ``cover`` crops, then scaled and
        converted by one swscale call; None (RGB only) for a background shown turned or of
        odd size."""
        stored = (self._info.height, self._info.width)
        if self._info.rotation or stored[0] % 2 or stored[1] % 2:
            return None
        box = cover_box(stored, self.size, self.pixel_aspect)
        own = self._info.colour
        self.close()
        self._play(
            lambda: (
                (frame.pts, covered_planes(frame.planes, stored, box, own, self.size, colour))
                for frame in _background_frames(self.path, size=stored, planes=True)
            )
        )
        return self

    def planes_under(
        self, y: Tensor, u: Tensor, v: Tensor, alpha: Tensor, times: Sequence[float]
    ) -> UnderPlanes:
        """The frames shown at ``times`` (seconds from the input's first frame, rising): Y [T,
        H, W], U, V [T, H / 2, W / 2] uint8 on the planes' device."""
        picked = torch.from_numpy(np.stack(self._picked(times))).to(y.device)
        return split(picked, *self.size)

    def close(self) -> None:
        """Stop decoding."""
        self._timeline.stop()

    def _play(self, decoded: Callable[[], Iterator[tuple[int, np.ndarray]]]) -> None:
        """Start the timeline of the (pts, picture) ``decoded()`` gives, a lap of the file each."""
        self._timeline = Prefetcher(self._play_forever(decoded), depth=4, name="background")
        self._frames = iter(self._timeline)
        self._current = next(self._frames)
        self._next = next(self._frames)

    def _picked(self, times: Sequence[float]) -> list[np.ndarray]:
        """The picture shown at each of ``times`` (rising, seconds from the input's first)."""
        picked = []
        for time in times:
            while self._next[0] <= time:
                self._current, self._next = self._next, next(self._frames)
            picked.append(self._current[1])
        return picked

    def _play_forever(
        self, decoded: Callable[[], Iterator[tuple[int, np.ndarray]]]
    ) -> Iterator[tuple[float, np.ndarray]]:
        """(seconds from the first frame, picture) for ever, the file played in a loop."""
        offset = 0.0
        for lap in count():
            if lap == 1:
                self._on_loop(offset)
                self._on_loop = lambda seconds: None  # said once, also if played again
            first_pts = None
            last, step = 0.0, 0.0
            for pts, picture in decoded():
                first_pts = pts if first_pts is None else first_pts
                time = float((pts - first_pts) * self._info.time_base)
                step = time - last if time > last else step
                last = time
                yield offset + time, picture
            if first_pts is None:
                raise InputError(f"no frames in the background video: {self.path}")
            offset += last + (step or 1 / 30)


def _background_frames(path: Place, **options: object) -> Iterator:
    """read_frames of the background video, its errors said to be the background's."""
    try:
        yield from read_frames(path, **options)
    except InputError as error:
        raise InputError(f"background video: {error}") from None


def cover_box(
    stored: tuple[int, int], size: tuple[int, int], pixel_aspect: float = 1.0
) -> tuple[int, int, int, int]:
    """The part (top, left, height, width) of a picture of ``stored`` size (square pixels)
    that, scaled to ``size`` (pixels ``pixel_aspect`` times as wide as high), covers it as
    shown: centred, never stretched."""
    (h, w), (height, width) = stored, size
    shown = width * pixel_aspect
    scale = max(shown / w, height / h)
    crop_h, crop_w = min(h, round(height / scale)), min(w, round(shown / scale))
    return (h - crop_h) // 2, (w - crop_w) // 2, crop_h, crop_w


def cover(frames: Tensor, height: int, width: int, pixel_aspect: float = 1.0) -> Tensor:
    """[N, 3, h, w] -> [N, 3, height, width]: scaled to cover, centre-cropped, never stretched
    as shown (the target's pixels are ``pixel_aspect`` times as wide as high)."""
    h, w = frames.shape[-2:]
    if (h, w) == (height, width) and pixel_aspect == 1:
        return frames
    top, left, crop_h, crop_w = cover_box((h, w), (height, width), pixel_aspect)
    cropped = frames[..., top : top + crop_h, left : left + crop_w]
    scaled = F.interpolate(
        cropped.float(), size=(height, width), mode="bilinear", align_corners=False, antialias=True
    )
    return scaled.clamp_(0, 1).to(frames.dtype)
