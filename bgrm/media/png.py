"""A folder of RGBA PNG frames, the input's audio beside them and a JSON list of frame times.

    frame_000000.png ...   straight-alpha RGBA, one per input frame
    audio.m4a | audio.mka  the audio tracks copied packet for packet (none: no file)
    frames.json            size, time base, and every frame's file, pts and time in seconds

The times keep a variable frame rate: an editor or script can place each frame where it was.
"""

from __future__ import annotations

import json
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import av
import numpy as np
from PIL import Image

from bgrm.errors import OutputError
from bgrm.media.formats import PNG_AUDIO
from bgrm.media.info import VideoInfo
from bgrm.media.tracks import AudioMuxer
from bgrm.places import Place

SIDECAR = "frames.json"
FRAME_NAME = "frame_{:06d}.png"
PNG_COMPRESS_LEVEL = 3
"""zlib level. On a 1080p frame: twice as fast as Pillow's default 6, files a quarter larger."""


def is_frame_folder(folder: Place) -> bool:
    """Whether ``folder`` (local or in a bucket) holds a PNG frame folder (so -y may replace
    it) and nothing else."""
    names = {path.name for path in folder.children()}
    if SIDECAR not in names:
        return False
    return all(
        name == SIDECAR or name.startswith("audio.") or _is_frame_name(name) for name in names
    )


def _is_frame_name(name: str) -> bool:
    return name.startswith("frame_") and name.endswith(".png") and name[6:-4].isdigit()


class PngFolderWriter:
    """Write RGBA frames as PNGs into ``folder`` (which exists and is empty), audio at close.

    PNGs are compressed in a few threads (zlib lets go of the GIL); at most ``depth`` frames
    wait, so memory stays flat. ``audio=False`` (a part of a split job): no audio file.
    """

    def __init__(
        self, folder: Path, info: VideoInfo, *, audio: bool = True, workers: int = 4
    ) -> None:
        self._folder = Path(folder)
        self._info = info
        self._audio = audio
        self._frames: list[dict] = []
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="png")
        self._pending: deque[Future] = deque()
        self._depth = 2 * workers

    def write(self, rgba: np.ndarray, pts: int) -> None:
        """Save one uint8 [H, W, 4] frame shown at ``pts`` (in ``info.time_base``)."""
        if rgba.shape != (self._info.height, self._info.width, 4):
            raise ValueError(f"frame shape {rgba.shape} does not match the video size")
        name = FRAME_NAME.format(len(self._frames))
        self._frames.append({"file": name, "pts": pts, "time": float(pts * self._info.time_base)})
        self._pending.append(self._pool.submit(self._save, rgba, self._folder / name))
        while len(self._pending) > self._depth:
            self._pending.popleft().result()

    def close(self) -> None:
        """Wait for the last PNGs, write the audio and the sidecar."""
        self._drain()
        _write_sidecar(self._folder, self._info, self._frames, audio=self._audio)

    def abort(self) -> None:
        """Stop writing; the caller deletes the folder."""
        for future in self._pending:
            future.cancel()
        self._pool.shutdown(wait=True)

    def _drain(self) -> None:
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True)

    def _save(self, rgba: np.ndarray, path: Path) -> None:
        try:
            Image.fromarray(rgba, "RGBA").save(path, compress_level=PNG_COMPRESS_LEVEL)
        except OSError as error:
            raise _output_error(error, path) from error


def join_frame_folders(parts: list[Place], folder: Path, info: VideoInfo) -> None:
    """Move the frames of the frame folders ``parts`` (written with ``audio=False``; local or
    in a bucket), in order, into the empty ``folder``, numbered on from one part to the next;
    then write the audio and one sidecar for them all."""
    frames: list[dict] = []
    try:
        for part in parts:
            for frame in json.loads((part / SIDECAR).read_bytes())["frames"]:
                name = FRAME_NAME.format(len(frames))
                (part / frame["file"]).take(folder / name)
                frames.append({**frame, "file": name})
    except OSError as error:
        raise _output_error(error, folder) from error
    _write_sidecar(folder, info, frames, audio=True)


def _write_sidecar(folder: Path, info: VideoInfo, frames: list[dict], *, audio: bool) -> None:
    """frames.json (size, time base, every frame's file, pts and time), after the audio."""
    sidecar = {
        "source": info.path.name,
        "width": info.width,
        "height": info.height,
        "alpha": "straight",
        "sample_aspect_ratio": f"{info.sample_aspect.numerator}:{info.sample_aspect.denominator}",
        "time_base": str(info.time_base),
        "average_rate": str(info.average_rate) if info.average_rate else None,
        "audio": _write_audio(folder, info) if audio else None,
        "frames": frames,
    }
    try:
        (folder / SIDECAR).write_text(json.dumps(sidecar, indent=1) + "\n")
    except OSError as error:
        raise _output_error(error, folder) from error


def _write_audio(folder: Path, info: VideoInfo) -> str | None:
    """Copy the input's audio into audio.m4a (AAC and kin) or audio.mka (anything else)."""
    codecs = [track.codec for track in info.audio]
    if not codecs:
        return None
    name = next(
        name
        for name, (_, policy, _) in PNG_AUDIO.items()
        if all(policy.takes(codec) for codec in codecs)
    )
    container, policy, options = PNG_AUDIO[name]
    path = folder / name
    try:
        with av.open(str(path), "w", format=container, options=options) as output:
            AudioMuxer(info.path, output, policy, lambda message: None, info.start_s).finish()
    except OSError as error:
        raise _output_error(error, path) from error
    return name


def _output_error(error: OSError, path: Path) -> OutputError:
    return OutputError(f"cannot write the output ({error.strerror or error}): {path}")
