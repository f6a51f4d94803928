"""Orchestration: open a job's pieces, run the one loop, commit or abort.

    process("talk.mp4", "out.mp4", background="beach.jpg")   # -> Result; files written
    check(job)                                                # what run() refuses, at once

Frames are decoded in a thread (bgrm/batches.py), run through the model in batches on the
device with the recurrent state carried (bgrm/matting/session.py), finished into what the
outputs need as uint8 (bgrm/finish) and handed to the outputs (bgrm/outputs.py), each encoding
in its own thread. The state is forgotten at every cut found on the way, and a shot without a
person is written as recorded (bgrm/shots.py). Every output is written under a hidden temp
name and renamed only when all are complete. A run goes to a
:class:`~bgrm.outputs.Target`: a whole job, or one part of a split job (bgrm/parts.py). The
frames and mattes without outputs: bgrm/streaming.py.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from typing_extensions import Unpack  # typing's own from Python 3.11

from bgrm.backgrounds import (
    Background,
    check_background_file,
    open_background,
    parse_background,
)
from bgrm.batches import Batch, decode_batches
from bgrm.errors import OutputError
from bgrm.finish import FusedTail, PlanePath, as_recorded, choose_tail, finish, finish_planes
from bgrm.job import Job
from bgrm.matting import weights
from bgrm.matting.build import Model, job_and_model
from bgrm.matting.session import MattingSession, matte_batches, open_session
from bgrm.media.decode import DecodeReport
from bgrm.media.info import VideoInfo
from bgrm.media.planes import keeps_planes
from bgrm.media.probe import probe
from bgrm.media.writer import WriteError
from bgrm.options import JobOptions, Screens
from bgrm.outputs import Sink, Target, WholeJob, check_targets
from bgrm.resources import keep_freed_memory
from bgrm.results import NoticeCallback, ProgressCallback, Result, Shot
from bgrm.shots import ShotLog, judged, lookahead_frames, shots_notice
from bgrm.stages import Consumer, Prefetcher


def process(
    input: str | os.PathLike,
    output: str | os.PathLike | None = None,
    *,
    on_progress: ProgressCallback | None = None,
    on_notice: NoticeCallback | None = None,
    **options: Unpack[JobOptions],
) -> Result:
    """Replace the background of ``input`` (or cut the person out), keeping audio and timing.

    A still image (.png, .jpg, .webp, ...) gives a still image (default <stem>.bgrm.png).

    Arguments:
        input: the video file, or a still image.
        output: the file to write (its suffix picks the container: .mp4, .mov, .mkv, .webm),
            or the folder for ``alpha="png"``; None: <stem>.bgrm<ext> beside the input.
        on_progress: called with (frames done, total or None) after every batch; an exception
            it raises stops the job, and nothing is left behind.
        on_notice: called with each notice as it happens (also kept in ``Result.notices``).
        options: any ``JobOptions``: ``background``, ``alpha``, ``matte``,
            ``downsample``, ``batch``, ``device``, ``precision``, ``overwrite``, ``codec``,
            ``crf``, ``light_wrap``, ``compile``, ``model``, ``screens``: the ``Job``
            parameters, documented there. ``model`` may be a model from ``load_model()``;
            then "auto" ``device`` and ``precision`` are the model's.

    Returns:
        Result(output, frames, seconds, notices, matte, shots); its fps is frames / seconds.

    Raises:
        InputError: the input or the background is missing or unusable.
        UsageError: parameters that contradict each other or are out of range.
        OutputError: the output exists (without ``overwrite``) or cannot be written.
        EnvironmentProblem: weights missing and not fetchable, or no such CUDA device.
    """
    job, loaded = job_and_model(input=input, output=output, **options)
    return run(job, model=loaded, on_progress=on_progress, on_notice=on_notice)


def run(
    job: Job,
    *,
    model: Model | None = None,
    on_progress: ProgressCallback | None = None,
    on_notice: NoticeCallback | None = None,
) -> Result:
    """``process`` for a ``Job`` (what a queue worker receives as JSON); ``model``, if
    given, must be the job's model (loaded by ``load_model``)."""
    target = WholeJob(job)
    return run_target(job, target, model=model, on_progress=on_progress, on_notice=on_notice)


def run_target(
    job: Job,
    target: Target,
    *,
    model: Model | None = None,
    on_progress: ProgressCallback | None = None,
    on_notice: NoticeCallback | None = None,
) -> Result:
    """Run ``job`` into ``target`` (its whole outputs, or one part of it)."""
    notices: list[str] = []

    def notice(message: str) -> None:
        notices.append(message)
        if on_notice is not None:
            on_notice(message)

    info = probe(job.input)
    target.check()
    if info.colour.hdr:
        notice(
            f"HDR input ({info.colour.hdr}): written with its own colour tags at 8 bits per "
            f"channel (banding is possible); a background is placed as it is, not made HDR"
        )
    spec = None if job.alpha else parse_background(job.background_spec)
    session, size = open_session(job, info, model, notice)
    target.start(session, info)
    keep_freed_memory()
    started = time.perf_counter()
    report = DecodeReport()
    background = None
    try:
        if spec is not None:
            device = session.model.device
            background = open_background(
                spec, info.height, info.width, device, notice, info.sample_aspect
            )
        frames_expected = target.expected_frames(info)
        planes = _plane_path(job, info, background)
        run = _Run(
            info=info,
            session=session,
            background=background,
            light=job.light_wrap,
            planes=planes,
            tail=None
            if planes is not None and not _fuses(planes, session)
            else choose_tail(
                job.compile,
                frames_expected,
                info.height,
                info.width,
                session.model.device,
                weights.home(),
                notice,
                planes is not None,
            ),
            total=frames_expected,
            on_progress=on_progress,
            screens=job.screens,
            lookahead=lookahead_frames(info.average_rate),
            shots=ShotLog(),
            target=target,
        )
        sinks = target.open(info, notice)
        model_input = session.model_input(info.height, info.width)
        batches = decode_batches(info, size, report, target.part, model_input, planes is not None)
        frames, warmup = _write(run, batches, sinks, job)
    finally:
        if background is not None:
            background.close()
    for message in report.warnings(info, whole_file=target.part is None):
        notice(message)
    frame_s = 1 / float(info.average_rate) if info.average_rate else 0.0
    shots = run.shots.shots(info.start_pts, info.time_base, frame_s)
    said = shots_notice(shots, job.screens)
    if said:
        notice(said)
    seconds = time.perf_counter() - started
    summary = {"frames": frames, "seconds": seconds, "notices": notices, "warmup_frames": warmup}
    target.finished(summary, session)
    return result_of(target, frames, seconds, notices, shots, warmup)


def result_of(
    target: Target,
    frames: int,
    seconds: float,
    notices: list[str],
    shots: Sequence[Shot] = (),
    warmup_frames: int = 0,
) -> Result:
    """The Result of a run into ``target`` (or of a join, into a WholeJob): the one place a
    Result is made."""
    return Result(target.output, frames, seconds, notices, target.matte, list(shots), warmup_frames)


def check(job: Job) -> None:
    """Everything ``run`` checks before it starts work, without loading the model: the input
    is a readable video or image, the outputs can be written (or exist, without
    ``overwrite``), the background is usable. A queue's client calls it so that a job that
    cannot run is refused before it is queued.

    Raises:
        InputError, UsageError, OutputError: as ``process`` would, with the same message.
    """
    probe(job.input)
    check_targets(job)
    if job.alpha is None:
        check_background_file(parse_background(job.background_spec))


@dataclass(frozen=True)
class _Run:
    """What the loop of one run needs besides its batches and sinks."""

    info: VideoInfo
    session: MattingSession
    background: Background | None  # None for alpha outputs
    light: float | None  # the light wrap's strength, or None
    planes: PlanePath | None  # the composite in the output's planes, or None: in RGB
    tail: FusedTail | None  # the fused tail, or None for the eager one
    total: int | None  # frames expected, for progress
    on_progress: ProgressCallback | None
    screens: Screens  # what becomes of a shot without a person
    lookahead: int  # frames of a new shot seen before it is judged
    shots: ShotLog  # the shots written so far
    target: Target  # told when a part's warm-up is done


def _write(run: _Run, source: Iterator[Batch], sinks: list[Sink], job: Job) -> tuple[int, int]:
    """Stream every frame into ``sinks`` and put them in place; returns the number of frames
    written and of warm-up frames. On any error the sinks' temp files are removed."""
    try:
        frames = _stream(run, source, sinks)
        for sink in sinks:
            sink.finish()
        for sink in sinks:
            sink.commit()
    except BaseException as error:
        for sink in sinks:
            sink.abort()
        if isinstance(error, WriteError):
            raise OutputError(
                f"cannot write the output ({error.reason}); the partial file was removed: "
                f"{job.output_path()}"
            ) from error
        raise
    return frames


def _stream(run: _Run, source: Iterator[Batch], sinks: list[Sink]) -> tuple[int, int]:
    """Matte, finish and encode every frame; returns the number of frames and of warm-up
    frames (those only go through the model). Background times run from the input's first
    frame. A shot without a person is written as recorded (unless ``screens`` is "replace")."""
    needs = {sink.pixels for sink in sinks}
    decoded = Prefetcher(source, depth=2, name="decode")
    encoders = [Consumer(sink.write, depth=2, name=f"encode-{sink.pixels}") for sink in sinks]
    done = warmup = 0
    origin = run.info.start_pts
    try:
        with torch.inference_mode():
            batches = _after_warmup(decoded, run)
            info = run.info
            from_planes = None
            if run.planes is not None:
                from_planes = run.session.plane_input(info.colour, info.height, info.width)
            matted_batches = matte_batches(run.session, batches, from_planes)
            shots = judged(matted_batches, run.screens, run.lookahead)
            for matted, passed in shots:
                if matted.batch.warmup:  # reported, so that a caller may stop it meanwhile
                    warmup += len(matted.batch.pts)
                    _report(run, done, run.total)
                    continue
                run.shots.add(matted, passed)
                pts = matted.batch.pts
                origin = pts[0] if origin is None else origin
                times = [float((p - origin) * run.info.time_base) for p in pts]
                if passed:
                    host = as_recorded(matted.batch, needs)
                elif run.planes is not None:
                    host = finish_planes(matted, run.planes, times, run.tail)
                else:
                    host = finish(matted, needs, run.background, times, run.light, run.tail)
                for encoder in encoders:
                    encoder.put(host)
                done += len(pts)
                _report(run, done, run.total)
        for encoder in encoders:
            encoder.finish()
    except BaseException:
        for encoder in encoders:
            encoder.cancel()
        raise
    finally:
        decoded.stop()
    _report(run, done, done)  # the exact total, where the header's estimate was off
    return done, warmup


def _after_warmup(batches: Iterator[Batch], run: _Run) -> Iterator[Batch]:
    """``batches``, the target told (``warmed``) when the model has run the last warm-up
    batch and not yet the first of the part's own frames (matte_batches asks for a batch
    only after it has run the one before)."""
    warming = False
    for batch in batches:
        if warming and not batch.warmup:
            run.target.warmed(run.session)
        warming = batch.warmup
        yield batch


def _plane_path(job: Job, info: VideoInfo, background: Background | None) -> PlanePath | None:
    """The composite in the output's planes where the job allows it: only a composite is
    written (always as yuv420p), of frames decoded as 8-bit 4:2:0 of even size shown as
    stored, over a background the planes can take, without light wrap. Either model: the
    model's input is made from the planes (by the decoder's scaler, or on the device:
    ``MattingSession.plane_input``). None: the RGB path."""
    if (
        background is None
        or info.still
        or job.matte is not None
        or job.light_wrap is not None
        or not keeps_planes(info.pix_fmt, info.height, info.width, info.rotation)
    ):
        return None
    return PlanePath.open(background, info.colour, info.height, info.width)


def _fuses(planes: PlanePath, session: MattingSession) -> bool:
    """Whether the fused tail's planes kernel covers this plane path: the frame is the
    foreground and the background's planes are the same under every batch."""
    return session.model.network.frame_is_foreground and planes.under.fixed is not None


def _report(run: _Run, done: int, total: int | None) -> None:
    if run.on_progress is not None:
        run.on_progress(done, total)
