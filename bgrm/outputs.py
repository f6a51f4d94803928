"""The files of one job ("sinks"), each behind a temp name until the whole job succeeds.

A sink takes one kind of pixels from every batch (the composite, the RGBA person or the
matte), writes it to a temp path (a storage.Pending: a hidden name beside a local target, a
local scratch file for an object), and is put in place (renamed, or uploaded) only once every
sink of the job has finished. On any error each sink removes its temp file or folder. Targets
are Places: local paths or objects in a bucket alike. A run writes either a whole job
(:class:`WholeJob`) or one part of a split job (bgrm/parts.py); both are a :class:`Target`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np

from bgrm import storage
from bgrm.errors import OutputError, UsageError
from bgrm.job import Job, Part
from bgrm.media.formats import ALPHA_VIDEOS, Encoding, composite_encoding, matte_encoding
from bgrm.media.info import VideoInfo
from bgrm.media.png import SIDECAR, PngFolderWriter, is_frame_folder
from bgrm.media.still import StillWriter
from bgrm.media.writer import FrameWriter, WriteError
from bgrm.places import Place

if TYPE_CHECKING:
    from bgrm.matting.session import MattingSession

Pixels = Literal["rgb", "rgba", "matte"]


@dataclass
class HostFrames:
    """One batch back on the host, as uint8: only the kinds some sink needs are filled."""

    pts: list[int]  # one per frame, in the input's time base
    rgb: np.ndarray | None = None  # the composite [T, H, W, 3], or yuv420p [T, H * 3 / 2, W]
    rgba: np.ndarray | None = None  # the person, straight alpha [T, H, W, 4]
    matte: np.ndarray | None = None  # the alpha [T, H, W]


class FrameSink(Protocol):
    def write(self, pixels: np.ndarray, pts: int) -> None: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...


class Sink:
    """One output of a job: a writer fed ``pixels`` from every batch, into a pending write."""

    def __init__(self, pending: storage.Pending, pixels: Pixels, writer: FrameSink) -> None:
        self.pixels = pixels
        self._pending = pending
        self._writer = writer

    def write(self, frames: HostFrames) -> None:
        for image, pts in zip(getattr(frames, self.pixels), frames.pts, strict=True):
            self._writer.write(image, pts)

    def finish(self) -> None:
        """Finish the temp file (flush encoders, write trailers); not yet in place."""
        self._writer.close()

    def commit(self) -> None:
        """Put the finished temp file or folder at the target (a rename or an upload)."""
        self._pending.commit()
        self._pending.discard()

    def abort(self) -> None:
        """Stop the writer and remove what it wrote."""
        self._writer.abort()
        self._pending.discard()


@dataclass(frozen=True)
class Output:
    """One file (or PNG folder) of a job: where it goes, what pixels, how they are written."""

    target: Place
    pixels: Pixels
    encoding: Encoding | None  # None: a folder of PNG frames, or a still image
    still: bool = False


def outputs_of(job: Job) -> list[Output]:
    """The job's main output, then its matte if asked."""
    main = job.output_path()
    matte = Place.of(job.matte) if job.matte is not None else None
    pixels: Pixels = "rgb" if job.alpha is None else "rgba"
    if job.still:
        outputs = [Output(main, pixels, None, still=True)]
        return outputs + ([Output(matte, "matte", None, still=True)] if matte else [])
    if job.alpha is None:
        outputs = [Output(main, "rgb", composite_encoding(main, job.codec, job.crf))]
    else:
        outputs = [Output(main, "rgba", ALPHA_VIDEOS.get(job.alpha))]  # None: "png"
    if matte is not None:
        outputs.append(Output(matte, "matte", matte_encoding(matte)))
    return outputs


@dataclass(frozen=True)
class Opening:
    """An output to open: its pixels and kind, the file it goes to, how it is encoded,
    whether the input's audio goes with it and whether it may replace what is there."""

    output: Output
    target: Place
    encoding: Encoding | None
    audio: bool
    overwrite: bool


def open_sinks(
    openings: list[Opening], info: VideoInfo, notice: Callable[[str], None], job: Job
) -> list[Sink]:
    """Sinks writing each of ``openings`` under a temp name beside its target; all or none are
    opened (a write error names the job's output)."""
    sinks: list[Sink] = []
    try:
        for opening in openings:
            sinks.append(_open_sink(opening, info, notice))
    except BaseException as error:
        for sink in sinks:
            sink.abort()
        if isinstance(error, WriteError):
            raise OutputError(
                f"cannot write the output ({error.reason}): {job.output_path()}"
            ) from error
        raise
    return sinks


def _open_sink(opening: Opening, info: VideoInfo, notice: Callable[[str], None]) -> Sink:
    folder = opening.encoding is None and not opening.output.still
    pending = storage.Pending(
        opening.target,
        overwrite=opening.overwrite,
        folder=folder,
        last=SIDECAR if folder else None,
    )
    temp = pending.temp
    try:
        if opening.output.still:
            writer = StillWriter(temp, info, opening.target.suffix.lower())
        elif folder:
            writer = PngFolderWriter(temp, info, audio=opening.audio)
        else:
            writer = FrameWriter(temp, info, opening.encoding, on_notice=notice)
    except BaseException:
        pending.discard()  # a writer that failed to open may have left its file
        raise
    return Sink(pending, opening.output.pixels, writer)


class Target(Protocol):
    """Where one run of the pipeline goes: a whole job's outputs, or one part of a split job.

    ``part``: the frames the run covers (None: all of them); ``output``/``matte``: what its
    Result names.
    """

    part: Part | None
    output: Place
    matte: Place | None

    def expected_frames(self, info: VideoInfo) -> int | None:
        """About how many frames the run writes (for progress and the fused tail's choice)."""
        ...

    def check(self) -> None:
        """Refuse what would go wrong, before any work."""
        ...

    def start(self, session: MattingSession, info: VideoInfo) -> None:
        """Before the first frame: a target may give ``session`` a state to carry on from."""
        ...

    def warmed(self, session: MattingSession) -> None:
        """After a part's warm-up, before its first own frame: ``session`` holds the state
        there."""
        ...

    def open(self, info: VideoInfo, notice: Callable[[str], None]) -> list[Sink]:
        """The run's sinks, opened on temp names."""
        ...

    def finished(self, summary: dict, session: MattingSession) -> None:
        """After every sink is in place: ``summary`` holds frames, seconds and notices;
        ``session`` the state after the last frame."""
        ...


class WholeJob:
    """A job's own outputs, with the input's audio, renamed into place when all are complete."""

    part = None

    def __init__(self, job: Job) -> None:
        self.job = job
        self.output = job.output_path()
        self.matte = Place.of(job.matte) if job.matte else None

    def expected_frames(self, info: VideoInfo) -> int | None:
        return info.expected_frames

    def check(self) -> None:
        check_targets(self.job)
        remove_leftovers(self.job, float("inf"))

    def start(self, session: MattingSession, info: VideoInfo) -> None:
        """A whole job starts cold, at its first frame."""

    def warmed(self, session: MattingSession) -> None:
        """A whole job has no warm-up."""

    def open(self, info: VideoInfo, notice: Callable[[str], None]) -> list[Sink]:
        openings = [
            Opening(out, out.target, out.encoding, audio=True, overwrite=self.job.overwrite)
            for out in outputs_of(self.job)
        ]
        return open_sinks(openings, info, notice, self.job)

    def finished(self, summary: dict, session: MattingSession) -> None:
        """Nothing more: the outputs are in place."""


def check_targets(job: Job) -> None:
    """Refuse what would go wrong before any work: overwrites, missing folders, the input."""
    _check_target(job.output_path(), job, folder=job.alpha == "png" and not job.still)
    if job.matte is not None:
        _check_target(Place.of(job.matte), job, folder=False)


def _check_target(target: Place, job: Job, *, folder: bool) -> None:
    if target.same(job.input):
        raise UsageError(f"the output would overwrite the input: {target}")
    if folder:
        _check_frame_folder(target, job.overwrite)
    else:
        check_file_target(target, job.overwrite)


def check_file_target(target: Place, overwrite: bool) -> None:
    """Refuse a file output whose name is too long to write, that exists (without
    ``overwrite``), is a folder, or whose local folder is missing or read-only (a bucket has
    no folders to make)."""
    storage.check_writable(target)
    storage.refuse_existing(target, overwrite)
    if target.is_folder():
        raise OutputError(f"output is a directory: {target}")


def _check_frame_folder(target: Place, overwrite: bool) -> None:
    """A PNG folder may be new, empty, or (with overwrite) an earlier frame folder; nothing else."""
    storage.check_writable(target)
    if target.exists() and not target.is_folder():
        raise OutputError(f"`alpha` png needs a folder, but this is a file: {target}")
    if not target.children():
        return
    if not overwrite:
        raise OutputError(f"output exists (pass `overwrite` to replace it): {target}")
    if not is_frame_folder(target):
        raise OutputError(f"will not replace a folder that bgrm did not write: {target}")


def complete(job: Job) -> bool:
    """Whether every output of ``job`` is there and complete: outputs appear only whole (a
    rename, an upload), so any file is complete; a folder is a PNG frame folder whose
    frames.json (written, or uploaded, last) is there."""
    return all(_complete(target) for target in job.writes().values())


def _complete(target: Place) -> bool:
    if target.is_folder():
        return (target / SIDECAR).exists()
    return target.exists()


def remove_leftovers(job: Job, older_than: float, folder: Place | None = None) -> storage.Leftovers:
    """Delete what interrupted runs of ``job`` left beside or for its outputs (and, for a
    part, in its parts ``folder``): temp files and staged uploads whose writer is gone or that
    nobody touched for ``older_than`` seconds, and the incomplete uploads of its objects (see
    storage.remove_leftovers). Returns what was removed."""
    return storage.remove_leftovers(job.writes().values(), older_than, folder)
