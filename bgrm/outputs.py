"""The files one job writes ("sinks"), each behind a temp name until the whole job succeeds.

A sink takes one kind of pixels from every batch (the composite, the RGBA person or the matte),
writes it under a hidden temp name beside its target, and is renamed into place only once every
sink of the job has finished. On any error each sink removes its temp file or folder.
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from bgrm.errors import OutputError, UsageError
from bgrm.job import Job
from bgrm.media.formats import ALPHA_VIDEOS, composite_encoding, matte_encoding
from bgrm.media.png import PngFolderWriter, is_frame_folder
from bgrm.media.probe import VideoInfo
from bgrm.media.writer import FrameWriter

Pixels = Literal["rgb", "rgba", "matte"]


@dataclass
class HostFrames:
    """One batch back on the host, as uint8: only the kinds some sink needs are filled."""

    pts: list[int]  # one per frame, in the input's time base
    rgb: np.ndarray | None = None  # the composite [T, H, W, 3]
    rgba: np.ndarray | None = None  # the person, straight alpha [T, H, W, 4]
    matte: np.ndarray | None = None  # the alpha [T, H, W]


class FrameSink(Protocol):
    def write(self, pixels: np.ndarray, pts: int) -> None: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...


class Sink:
    """One output of a job: a writer fed ``pixels`` from every batch, into a temp path."""

    def __init__(self, target: Path, pixels: Pixels, temp: Path, writer: FrameSink) -> None:
        self.target = target
        self.pixels = pixels
        self.temp = temp
        self._writer = writer

    def write(self, frames: HostFrames) -> None:
        for image, pts in zip(getattr(frames, self.pixels), frames.pts, strict=True):
            self._writer.write(image, pts)

    def finish(self) -> None:
        """Finish the temp file (flush encoders, write trailers); not yet in place."""
        self._writer.close()

    def commit(self) -> None:
        """Move the finished temp file or folder to the target, replacing an old one."""
        if self.temp.is_dir() and self.target.is_dir():
            old = _temp_path(self.target, "old")
            os.replace(self.target, old)
            os.replace(self.temp, self.target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(self.temp, self.target)

    def abort(self) -> None:
        """Stop the writer and remove what it wrote."""
        self._writer.abort()
        _remove(self.temp)


def _remove(path: Path) -> None:
    """Delete a temp file or folder if it is there."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def check_targets(job: Job) -> None:
    """Refuse what would go wrong before any work: overwrites, missing folders, the input."""
    _check_target(job.output_path(), job, folder=job.alpha == "png")
    if job.matte is not None:
        _check_target(Path(job.matte), job, folder=False)


def _check_target(target: Path, job: Job, *, folder: bool) -> None:
    if target.resolve() == Path(job.input).resolve():
        raise UsageError(f"the output would overwrite the input: {target}")
    if folder:
        _check_frame_folder(target, job.overwrite)
    else:
        if target.exists() and not job.overwrite:
            raise OutputError(f"output exists (pass `overwrite` to replace it): {target}")
        if target.is_dir():
            raise OutputError(f"output is a directory: {target}")
    parent = target.parent
    if not parent.is_dir():
        raise OutputError(f"output folder does not exist: {parent}")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"output folder is not writable: {parent}")


def _check_frame_folder(target: Path, overwrite: bool) -> None:
    """A PNG folder may be new, empty, or (with overwrite) an earlier frame folder; nothing else."""
    if not target.exists():
        return
    if not target.is_dir():
        raise OutputError(f"`alpha` png needs a folder, but this is a file: {target}")
    if not any(target.iterdir()):
        return
    if not overwrite:
        raise OutputError(f"output exists (pass `overwrite` to replace it): {target}")
    if not is_frame_folder(target):
        raise OutputError(f"will not replace a folder that bgrm did not write: {target}")


def open_sinks(job: Job, info: VideoInfo, notice: Callable[[str], None]) -> list[Sink]:
    """The job's main output and its matte (if asked), opened on temp names."""
    sinks: list[Sink] = []
    try:
        sinks.append(_open_main(job, info, notice))
        if job.matte is not None:
            target = Path(job.matte)
            temp = _temp_path(target)
            writer = FrameWriter(temp, info, matte_encoding(target), on_notice=notice)
            sinks.append(Sink(target, "matte", temp, writer))
    except BaseException:
        for sink in sinks:
            sink.abort()
        raise
    return sinks


def _open_main(job: Job, info: VideoInfo, notice: Callable[[str], None]) -> Sink:
    target = job.output_path()
    temp = _temp_path(target)
    try:
        if job.alpha is None:
            writer = FrameWriter(temp, info, composite_encoding(target), on_notice=notice)
            return Sink(target, "rgb", temp, writer)
        if job.alpha == "png":
            temp.mkdir()
            return Sink(target, "rgba", temp, PngFolderWriter(temp, info))
        writer = FrameWriter(temp, info, ALPHA_VIDEOS[job.alpha], on_notice=notice)
        return Sink(target, "rgba", temp, writer)
    except BaseException:
        _remove(temp)  # a writer that failed to open may have left its file
        raise


def remove_leftovers(job: Job, older_than: float) -> list[Path]:
    """Delete the temp files and folders that an interrupted run of ``job`` left beside its
    outputs, if untouched for ``older_than`` seconds (a live run keeps touching its own);
    returns what was removed."""
    cutoff = time.time() - older_than
    removed = []
    for target in job.writes().values():
        for temp in target.parent.glob(f".{target.stem}.part-*{target.suffix}"):
            if temp.stat().st_mtime < cutoff:
                _remove(temp)
                removed.append(temp)
    return removed


def _temp_path(target: Path, kind: str = "part") -> Path:
    """A hidden name beside ``target`` with its suffix kept (the muxer is picked by it)."""
    return target.with_name(f".{target.stem}.{kind}-{secrets.token_hex(4)}{target.suffix}")
