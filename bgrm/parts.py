"""One recording in parts, on any number of machines: plan, run each part, join.

    from bgrm.parts import join_parts, parts_folder, plan_parts, run_part

    parts = plan_parts(job, count=8)                  # or seconds=120
    folder = parts_folder(job, "some-key")            # hidden, beside the output
    for part in parts:                                # anywhere that sees folder: one worker each
        run_part(job, part, folder, model=model)
    result = join_parts(job, parts, folder)           # stream copy; audio muxed once

Parts are cut by time (every frame belongs to exactly one part, whatever the header says). The
model's recurrent state at a part's first frame is the single pass's, bit for bit: RVM's state
from a cold start does not settle to it (bench/warmup.py), and a cold warm-up of 10 s still
left holes (bench/seam.py). So a part warms up from the nearest exact point: the state another
part left at a part boundary at or before its own (written by each part at its end, and at its
start once its warm-up is done), or else the first frame. The warm-up runs the model only as
far as its state needs (no full-resolution finish, no encode). A part's files (no audio;
containers that keep time exactly), the states it passed and, written last, its marker go into
the parts folder; the join makes the job's outputs from them and removes the folder.
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
    "Part",
    "Split",
    "join_parts",
    "parts_folder",
    "plan_parts",
    "remove_leftovers",
    "run_part",
]

SETTLES_AFTER_SECONDS = {"selfie": 5.0}
"""Models whose state from a cold start becomes the single pass's within so many seconds: the
selfie model's smoothing (bench/seam.py: no frame off at 5 s). A part of such a model warms up
cold over that many seconds before its first frame; a model not here (RVM: its state from a
cold start does not settle, bench/warmup.py) warms up from the nearest exact point."""

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

    Each part after the first warms up from the first frame (at run time, from the nearest
    exact state another part has left: see ``PartTarget``), or, for a model that settles
    (``SETTLES_AFTER_SECONDS``), from a cold start that many seconds before it; with
    ``preroll``, from a cold start that many seconds before it (for measuring). Checks the job
    as ``process`` would (the input, the outputs) first.

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
        cold = SETTLES_AFTER_SECONDS.get(job.model) if preroll is None else preroll
        warmup = None if first else info.start_pts
        if cold is not None and not first:
            back = round(cold / float(info.time_base))
            warmup = max(info.start_pts, start - back) if back > 0 else None
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
    pass's, the states at its start and at its end go there too, for the parts after it."""

    matte = None

    def __init__(self, job: Job, part: Part, folder: Place) -> None:
        self.job = job
        self.part = part
        self.output = folder
        self.exact = False  # the model state is the single pass's

    def start(self, session: MattingSession, info: VideoInfo) -> None:
        """The first part is the single pass already. Any other resumes the latest state that
        a part left at a boundary at or before its start (the single pass's) and warms up
        from there, not at all where it is its own start, unless that is longer than the
        planned warm-up. Without one it warms up as planned: from the first frame (exact), or
        cold (a model that settles)."""
        part = self.part
        self.exact = part.start_pts is None or part.warmup_pts == info.start_pts
        if part.start_pts is None:
            return
        found = _nearest_state(self.output, part.index)
        planned = part.warmup_pts if part.warmup_pts is not None else part.start_pts
        if found is not None and found[1] >= planned:
            state, pts = found
            session.resume(state)
            self.part = replace(part, warmup_pts=None if pts == part.start_pts else pts)
            self.exact = True

    def warmed(self, session: MattingSession) -> None:
        """After the warm-up: an exact state at this part's start is left for later parts."""
        if self.exact and self.part.start_pts is not None:
            _save_state(self.output, self.part.index - 1, session, self.part.start_pts)

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
        if self.exact and self.part.end_pts is not None:
            _save_state(self.output, self.part.index, session, self.part.end_pts)
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
    """The model state at the end of part ``index`` (the start of the next), where it is the
    single pass's."""
    return folder / f"part-{index:04d}.state"


def _save_state(folder: Place, index: int, session: MattingSession, pts: int) -> None:
    """The session's state after part ``index``'s last frame, before the frame at ``pts``."""
    tensors = {name: t.contiguous().cpu() for name, t in session.state.items()}
    if tensors:  # empty: nothing seen yet, or a cut just before
        data = save(tensors, metadata={"pts": str(pts)})
        storage.write_bytes(_state_path(folder, index), data)


def _nearest_state(folder: Place, index: int) -> tuple[dict[str, Tensor], int] | None:
    """The latest state left at a boundary up to part ``index``'s start, and the pts of the
    frame it comes before; None where there is none (yet)."""
    for before in range(index - 1, -1, -1):
        found = _load_state(_state_path(folder, before))
        if found is not None:
            return found
    return None


def _load_state(path: Place) -> tuple[dict[str, Tensor], int] | None:
    """The session state saved at ``path`` (MattingSession.state) and the pts of the frame it
    comes before, or None where there is none (yet) or it cannot be read."""
    if not path.exists():
        return None
    try:
        data = path.read_bytes()
        state = load(data)
        size = int.from_bytes(data[:8], "little")
        pts = int(json.loads(data[8 : 8 + size])["__metadata__"]["pts"])
    except (SafetensorError, ValueError, KeyError, TypeError, OSError):
        return None
    models = sum(1 for name in state if name.startswith("model."))
    cuts = {"cuts.last", "cuts.since"}
    expected = {f"model.{number}" for number in range(models)} | (
        cuts if cuts & set(state) else set()
    )
    return (state, pts) if set(state) == expected else None
