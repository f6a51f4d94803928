"""The files one job writes ("sinks"), each behind a temp name until the whole job succeeds.

A sink takes one kind of pixels from every batch (the composite, the RGBA person or the matte),
writes it under a hidden temp name beside its target, and is renamed into place only once every
sink of the job has finished. On any error each sink removes its temp file or folder.

A job split in parts writes each part's files into a hidden folder beside the output (no audio,
a JSON marker last); the join turns them into the job's outputs the same way, then removes the
folder.
"""

from __future__ import annotations

import json
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
from bgrm.job import Job, Part
from bgrm.media.formats import (
    ALPHA_VIDEOS,
    SUFFIXES,
    Encoding,
    composite_encoding,
    matte_encoding,
    part_encoding,
)
from bgrm.media.png import PngFolderWriter, is_frame_folder, join_frame_folders
from bgrm.media.probe import VideoInfo
from bgrm.media.still import StillWriter
from bgrm.media.writer import FrameWriter, join_videos

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
        _move_into_place(self.temp, self.target)

    def abort(self) -> None:
        """Stop the writer and remove what it wrote."""
        self._writer.abort()
        _remove(self.temp)


def _move_into_place(temp: Path, target: Path) -> None:
    """Rename a finished temp file or folder to ``target``, replacing an old one."""
    if temp.is_dir() and target.is_dir():
        old = _temp_path(target, "old")
        os.replace(target, old)
        os.replace(temp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(temp, target)


def _remove(path: Path) -> None:
    """Delete a temp file or folder if it is there."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def check_targets(job: Job) -> None:
    """Refuse what would go wrong before any work: overwrites, missing folders, the input."""
    _check_target(job.output_path(), job, folder=job.alpha == "png" and not job.still)
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


@dataclass(frozen=True)
class _Output:
    """One file (or PNG folder) of a job: where it goes, what pixels, how they are written."""

    target: Path
    pixels: Pixels
    encoding: Encoding | None  # None: a folder of PNG frames, or a still image
    still: bool = False


def _outputs(job: Job) -> list[_Output]:
    """The job's main output, then its matte if asked."""
    main = job.output_path()
    matte = Path(job.matte) if job.matte is not None else None
    pixels: Pixels = "rgb" if job.alpha is None else "rgba"
    if job.still:
        outputs = [_Output(main, pixels, None, still=True)]
        return outputs + ([_Output(matte, "matte", None, still=True)] if matte else [])
    if job.alpha is None:
        outputs = [_Output(main, "rgb", composite_encoding(main, job.codec, job.crf))]
    else:
        outputs = [_Output(main, "rgba", ALPHA_VIDEOS.get(job.alpha))]  # None: "png"
    if matte is not None:
        outputs.append(_Output(matte, "matte", matte_encoding(matte)))
    return outputs


def open_sinks(job: Job, info: VideoInfo, notice: Callable[[str], None]) -> list[Sink]:
    """The job's outputs, opened on temp names beside their targets."""
    outputs = [(out, out.target, out.encoding, True) for out in _outputs(job)]
    return _open_all(outputs, info, notice)


def open_part_sinks(
    job: Job, info: VideoInfo, folder: Path, part: Part, notice: Callable[[str], None]
) -> list[Sink]:
    """The outputs of one part of a split job, opened on temp names in ``folder``: the same
    streams as the whole job's, without audio, in containers that keep time exactly."""
    opened = []
    for number, out in enumerate(_outputs(job)):
        encoding = out.encoding and part_encoding(out.encoding, info.time_base)
        opened.append((out, _part_path(folder, part.index, number, encoding), encoding, False))
    return _open_all(opened, info, notice)


def _open_all(
    outputs: list[tuple[_Output, Path, Encoding | None, bool]],
    info: VideoInfo,
    notice: Callable[[str], None],
) -> list[Sink]:
    """(output, target, encoding, with audio) -> sinks; all or none are opened."""
    sinks: list[Sink] = []
    try:
        for out, target, encoding, audio in outputs:
            temp = _temp_path(target)
            try:
                if out.still:
                    writer = StillWriter(temp, info, target.suffix.lower())
                elif encoding is None:
                    temp.mkdir()
                    writer = PngFolderWriter(temp, info, audio=audio)
                else:
                    writer = FrameWriter(temp, info, encoding, on_notice=notice)
            except BaseException:
                _remove(temp)  # a writer that failed to open may have left its file
                raise
            sinks.append(Sink(target, out.pixels, temp, writer))
    except BaseException:
        for sink in sinks:
            sink.abort()
        raise
    return sinks


def parts_folder(job: Job, key: str) -> Path:
    """The hidden folder beside the output where the parts of a split job (named ``key``) go."""
    target = job.output_path()
    return target.with_name(f".{target.name}.{key}.parts")


def mark_part_done(folder: Path, part: Part, summary: dict) -> None:
    """Record that ``part``'s files are complete (written last, by a rename)."""
    marker = _part_marker(folder, part.index)
    temp = _temp_path(marker)
    temp.write_text(json.dumps(summary))
    os.replace(temp, marker)


def part_summary(folder: Path, part: Part) -> dict | None:
    """What a finished part recorded (frames, seconds, notices), or None if it has not."""
    marker = _part_marker(folder, part.index)
    return json.loads(marker.read_text()) if marker.is_file() else None


def join_parts(
    job: Job, info: VideoInfo, folder: Path, parts: list[Part], notice: Callable[[str], None]
) -> None:
    """Join the finished parts in ``folder`` into the job's outputs, with the input's audio
    muxed once; all outputs are renamed into place together, then the folder is removed."""
    check_targets(job)
    summaries = [part_summary(folder, part) for part in parts]
    missing = [part.index for part, summary in zip(parts, summaries, strict=True) if not summary]
    if missing:
        raise OutputError(f"parts {missing} of the split job are not finished: {folder}")
    filled = [part for part, summary in zip(parts, summaries, strict=True) if summary["frames"]]
    temps: list[Path] = []
    try:
        for number, out in enumerate(_outputs(job)):
            temp = _temp_path(out.target)
            temps.append(temp)
            if out.encoding is None:
                temp.mkdir()
                pieces = [_part_path(folder, part.index, number, None) for part in filled]
                join_frame_folders(pieces, temp, info)
            else:
                encoding = part_encoding(out.encoding, info.time_base)
                pieces = [_part_path(folder, part.index, number, encoding) for part in filled]
                join_videos(pieces, temp, info, out.encoding, notice)
        for temp, out in zip(temps, _outputs(job), strict=True):
            _move_into_place(temp, out.target)
    except BaseException:
        for temp in temps:
            _remove(temp)
        raise
    shutil.rmtree(folder, ignore_errors=True)


def _part_path(folder: Path, index: int, number: int, encoding: Encoding | None) -> Path:
    """Output ``number`` of part ``index``: part-0003.0.mp4, or a folder part-0003.0.frames."""
    suffix = ".frames" if encoding is None else SUFFIXES[encoding.container]
    return folder / f"part-{index:04d}.{number}{suffix}"


def _part_marker(folder: Path, index: int) -> Path:
    return folder / f"part-{index:04d}.json"


def remove_leftovers(job: Job, older_than: float, folder: Path | None = None) -> list[Path]:
    """Delete the temp files and folders that an interrupted run of ``job`` left beside its
    outputs (and, for a part, in the parts ``folder``), if untouched for ``older_than`` seconds
    (a live run keeps touching its own); returns what was removed."""
    cutoff = time.time() - older_than
    found = [
        temp
        for target in job.writes().values()
        for temp in target.parent.glob(f".{target.stem}.part-*{target.suffix}")
    ]
    if folder is not None and folder.is_dir():
        found += folder.glob(".*")
    removed = []
    for temp in found:
        if temp.stat().st_mtime < cutoff:
            _remove(temp)
            removed.append(temp)
    return removed


def _temp_path(target: Path, kind: str = "part") -> Path:
    """A hidden name beside ``target`` with its suffix kept (the muxer is picked by it)."""
    return target.with_name(f".{target.stem}.{kind}-{secrets.token_hex(4)}{target.suffix}")
