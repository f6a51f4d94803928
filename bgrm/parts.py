"""One recording in parts, on any number of machines: plan, run each part, join.

    from bgrm.parts import join_parts, parts_folder, plan_parts, run_part

    parts = plan_parts(job, count=8)                  # or seconds=120
    folder = parts_folder(job, "some-key")            # hidden, beside the output
    for part in parts:                                # anywhere that sees folder: one worker each
        run_part(job, part, folder, model=model)
    result = join_parts(job, parts, folder)           # stream copy; audio muxed once

Parts are cut by time (every frame belongs to exactly one part, whatever the header says). The
model's recurrent state at a part's first frame must be the single pass's: a part whose
predecessor has finished exact resumes the state that part left in the folder (the first part
is exact; so is one whose warm-up reaches the first frame); any other first runs the model over
a pre-roll of the frames before its own (measured with bench/seam.py; see preroll_for). A
part's files (no audio; containers that keep time exactly), its end state where exact and,
written last, its marker go into the parts folder; the join makes the job's outputs from them
and removes the folder.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import replace

from safetensors import SafetensorError
from safetensors.torch import load, save
from torch import Tensor

from bgrm import storage
from bgrm.errors import InputError, OutputError
from bgrm.job import Job, Part, Split
from bgrm.matting.build import Model
from bgrm.matting.session import MattingSession
from bgrm.media.decode import DecodeReport
from bgrm.media.formats import SUFFIXES, Encoding, part_encoding
from bgrm.media.info import VideoInfo
from bgrm.media.png import SIDECAR, join_frame_folders
from bgrm.media.probe import probe
from bgrm.media.writer import join_videos
from bgrm.outputs import (
    Opening,
    Sink,
    WholeJob,
    check_targets,
    open_sinks,
    outputs_of,
    remove_leftovers,
)
from bgrm.pipeline import result_of, run_target
from bgrm.places import Place
from bgrm.results import NoticeCallback, ProgressCallback, Result

__all__ = [
    "PREROLL_SECONDS",
    "Part",
    "Split",
    "join_parts",
    "parts_folder",
    "plan_parts",
    "preroll_for",
    "remove_leftovers",
    "run_part",
]

PREROLL_SECONDS = 10.0
"""The shortest warm-up before a part's first frame (see ``preroll_for``). A 5 s warm-up
left a hole for 2 s after the join on a 704x576 talking head (issue 27): RVM's state is not
the single pass's for seconds after a cold start, and never exactly (bench/seam.py). The selfie
model's smoothing is the single pass's after 5 s."""

PREROLL_SHARE = 0.09
"""A long part's warm-up, as a share of its own length: under the 10% that a split job may
spend on warm-ups for parts of two minutes or more."""

MIN_PART_SECONDS = 1.0
"""Parts are never planned shorter than this (and never more than one per second)."""


def plan_parts(
    job: Job,
    *,
    count: int | None = None,
    seconds: float | None = None,
    preroll: float | None = None,
) -> list[Part]:
    """Cut ``job``'s input into ``count`` parts of equal length, or parts of ``seconds`` each.

    Each part after the first warms up over the ``preroll`` seconds before it (None: as long
    as ``preroll_for`` its length). Checks the job as ``process`` would (the input, the
    outputs) first.

    Raises:
        InputError: the input is unreadable, or its duration unknown.
        UsageError: neither or both of count and seconds, or not a positive number.
        OutputError: an output exists (without ``overwrite``) or cannot be written.
    """
    Split(count, seconds)  # checked before the input is opened
    info = probe(job.input)
    check_targets(job)
    if not info.duration_s or info.start_pts is None:
        raise InputError(f"cannot split: the video's duration is not known: {job.input}")
    duration = info.duration_s
    if seconds is not None:
        count = math.ceil(duration / max(seconds, MIN_PART_SECONDS) - 1e-9)
    count = max(1, min(count, math.floor(duration / MIN_PART_SECONDS)))
    ticks = duration / float(info.time_base)
    starts = [info.start_pts + round(ticks * index / count) for index in range(count)]
    ends = [*starts[1:], info.start_pts + round(ticks)]
    parts = []
    for index, (start, end) in enumerate(zip(starts, ends, strict=True)):
        first, last = index == 0, index == count - 1
        seconds = preroll_for(float((end - start) * info.time_base)) if preroll is None else preroll
        preroll_ticks = round(seconds / float(info.time_base))
        warmup = None if first or preroll_ticks <= 0 else max(info.start_pts, start - preroll_ticks)
        expected = None
        if info.average_rate:
            expected = round((end - start) * info.time_base * info.average_rate)
        parts.append(
            Part(
                index=index,
                count=count,
                start_pts=None if first else start,
                end_pts=None if last else end,
                warmup_pts=warmup,
                expected_frames=expected,
            )
        )
    return parts


def preroll_for(part_seconds: float) -> float:
    """Seconds of warm-up before a part of ``part_seconds``: PREROLL_SECONDS, or PREROLL_SHARE
    of a long part's own length."""
    return max(PREROLL_SECONDS, PREROLL_SHARE * part_seconds)


def parts_folder(job: Job, key: str) -> Place:
    """The hidden folder beside the output where the parts of a split job (named ``key``) go
    (in a bucket: a hidden prefix beside the output's key).

    Raises:
        OutputError: a local folder's name would be longer than its file system takes.
    """
    target = job.output_path()
    folder = target.with_name(f".{target.name}.{key}.parts")
    too_long = storage.name_too_long(folder)
    if too_long:
        raise OutputError(
            f"the output's name is too long to split: its parts folder would have "
            f"{too_long[0]} bytes, {too_long[1]} at most: {target}"
        )
    return folder


def run_part(
    job: Job,
    part: Part,
    folder: str | os.PathLike,
    *,
    model: Model | None = None,
    on_progress: ProgressCallback | None = None,
    on_notice: NoticeCallback | None = None,
) -> Result:
    """One part of a split job: its frames, encoded as the whole job's would be but without
    audio, go into ``folder`` (made if missing); ``join_parts`` makes the job's outputs from
    them. The model first runs over the part's warm-up frames. The files appear complete or not
    at all; a marker written last says the part is done.

    Returns the part's Result (``output`` is ``folder``); ``on_progress`` counts its own frames.
    """
    folder = Place.of(folder)
    folder.mkdir()
    target = PartTarget(job, part, folder)
    return run_target(job, target, model=model, on_progress=on_progress, on_notice=on_notice)


class PartTarget:
    """The files of one part in the parts folder: the job's streams, no audio, in containers
    that keep time exactly; a marker written last. Where the part's model state is the single
    pass's, the state at its end goes there too, for the next part."""

    matte = None

    def __init__(self, job: Job, part: Part, folder: Place) -> None:
        self.job = job
        self.part = part
        self.output = folder
        self.exact = False  # the model state is the single pass's

    def start(self, session: MattingSession, info: VideoInfo) -> None:
        """The first part, or one whose warm-up starts at the first frame, is the single pass
        already. Any other resumes the state the part before it ended with, where that part has
        finished and was itself exact, and then needs no warm-up; else it warms up."""
        first = self.part.start_pts is None or self.part.warmup_pts == info.start_pts
        state = None if first else _load_state(_state_path(self.output, self.part.index - 1))
        if state is not None:
            session.resume(state)
            self.part = replace(self.part, warmup_pts=None)
        self.exact = first or state is not None

    def expected_frames(self, info: VideoInfo) -> int | None:
        return self.part.expected_frames

    def check(self) -> None:
        """The whole job was checked when it was planned."""

    def open(self, info: VideoInfo, notice: Callable[[str], None]) -> list[Sink]:
        openings = []
        for number, out in enumerate(outputs_of(self.job)):
            encoding = out.encoding and part_encoding(out.encoding, info.time_base)
            path = _part_path(self.output, self.part.index, number, encoding)
            openings.append(Opening(out, path, encoding, audio=False, overwrite=True))
        return open_sinks(openings, info, notice, self.job)

    def finished(self, summary: dict, session: MattingSession) -> None:
        if self.exact and self.part.end_pts is not None and session.state:
            tensors = {name: t.contiguous().cpu() for name, t in session.state.items()}
            storage.write_bytes(_state_path(self.output, self.part.index), save(tensors))
        storage.write_bytes(_marker(self.output, self.part.index), json.dumps(summary).encode())


def join_parts(
    job: Job,
    parts: list[Part],
    folder: str | os.PathLike,
    *,
    on_notice: NoticeCallback | None = None,
) -> Result:
    """Join the parts that ``run_part`` wrote into ``folder`` into the job's outputs: video
    packets copied in order (no re-encoding), the input's audio and subtitles muxed once, every
    output renamed into place together; then the folder is removed.

    Raises:
        OutputError: a part is not finished, or an output cannot be written.
    """
    folder = Place.of(folder)
    notices: list[str] = []

    def notice(message: str) -> None:
        if message not in notices:
            notices.append(message)
            if on_notice is not None:
                on_notice(message)

    started = time.perf_counter()
    info = probe(job.input)
    check_targets(job)
    summaries = [_summary(folder, part) for part in parts]
    missing = [part.index for part, summary in zip(parts, summaries, strict=True) if not summary]
    if missing:
        raise OutputError(f"parts {missing} of the split job are not finished: {folder}")
    for summary in summaries:
        for message in summary.get("notices", []):
            notice(message)
    filled = [part for part, summary in zip(parts, summaries, strict=True) if summary["frames"]]
    _join_outputs(job, info, folder, filled, notice)
    folder.remove()
    frames = sum(summary["frames"] for summary in summaries)
    for message in DecodeReport(frames=frames).warnings(info):  # frames missing in the whole
        notice(message)
    seconds = sum(summary["seconds"] for summary in summaries) + time.perf_counter() - started
    return result_of(WholeJob(job), frames, seconds, notices)


def _join_outputs(
    job: Job, info: VideoInfo, folder: Place, parts: list[Part], notice: NoticeCallback
) -> None:
    """Each output of the job from its pieces in the parts, all put in place together."""
    pendings: list[storage.Pending] = []
    try:
        for number, out in enumerate(outputs_of(job)):
            frames = out.encoding is None
            pending = storage.Pending(
                out.target, overwrite=job.overwrite, folder=frames, last=SIDECAR if frames else None
            )
            pendings.append(pending)
            if frames:
                pieces = [_part_path(folder, part.index, number, None) for part in parts]
                join_frame_folders(pieces, pending.temp, info)
            else:
                encoding = part_encoding(out.encoding, info.time_base)
                pieces = [_part_path(folder, part.index, number, encoding) for part in parts]
                join_videos(pieces, pending.temp, info, out.encoding, notice)
        for pending in pendings:
            pending.commit()
    finally:
        for pending in pendings:
            pending.discard()


def _summary(folder: Place, part: Part) -> dict | None:
    """What a finished part recorded (frames, seconds, notices), or None if it has not."""
    marker = _marker(folder, part.index)
    return json.loads(marker.read_bytes()) if marker.exists() else None


def _part_path(folder: Place, index: int, number: int, encoding: Encoding | None) -> Place:
    """Output ``number`` of part ``index``: part-0003.0.mp4, or a folder part-0003.0.frames."""
    suffix = ".frames" if encoding is None else SUFFIXES[encoding.container]
    return folder / f"part-{index:04d}.{number}{suffix}"


def _marker(folder: Place, index: int) -> Place:
    return folder / f"part-{index:04d}.json"


def _state_path(folder: Place, index: int) -> Place:
    """The model state at the end of part ``index``, where it is the single pass's."""
    return folder / f"part-{index:04d}.state"


def _load_state(path: Place) -> dict[str, Tensor] | None:
    """The session state saved at ``path`` (MattingSession.state), or None where there is
    none (yet) or it cannot be read."""
    if not path.exists():
        return None
    try:
        state = load(path.read_bytes())
    except (SafetensorError, ValueError, OSError):
        return None
    models = sum(1 for name in state if name.startswith("model."))
    cuts = {"cuts.last", "cuts.since"}
    expected = {f"model.{number}" for number in range(models)} | (
        cuts if cuts & set(state) else set()
    )
    return state if set(state) == expected else None
