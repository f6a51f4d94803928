"""Orchestration: the one loop that runs the model over batches, and the two ways to use it.

    process("talk.mp4", "out.mp4", background="beach.jpg")   # -> Result; files written
    for frame in mattes("talk.mp4"): ...                      # -> MatteFrame, streaming

Frames are decoded in a thread, run through the model in batches on the device (the recurrent
state carried across batches) by :func:`matte_batches`, the only place the model is run over a
video. ``process`` turns each batch there into what its outputs need (composite, RGBA person,
matte) as uint8 and hands it to the outputs (bgrm/outputs.py), each encoding in its own
thread; every output is written under a hidden temp name and renamed only when all are
complete. ``mattes`` hands each frame back with its alpha and foreground.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from bgrm.backgrounds import Background, open_background, parse_background
from bgrm.composite import (
    from_uint8_hwc,
    matte_to_uint8,
    over_background,
    to_rgba_uint8,
    to_uint8_hwc,
)
from bgrm.errors import OutputError, UsageError
from bgrm.job import Job, Part
from bgrm.matting import weights
from bgrm.matting.build import Model, load_model
from bgrm.matting.refiner import DeepGuidedFilterRefiner
from bgrm.matting.session import MattingSession
from bgrm.media.decode import DecodeReport, read_frames
from bgrm.media.probe import VideoInfo, probe
from bgrm.media.writer import WriteError
from bgrm.outputs import (
    HostFrames,
    Sink,
    check_targets,
    mark_part_done,
    open_part_sinks,
    open_sinks,
)
from bgrm.resources import (
    default_batch,
    free_memory,
    keep_freed_memory,
    large_frame_notice,
    plan_batch,
    resolve_device,
)
from bgrm.stages import Consumer, Prefetcher
from bgrm.tail import FusedTail, open_tail

ProgressCallback = Callable[[int, "int | None"], None]
NoticeCallback = Callable[[str], None]


@dataclass(frozen=True)
class Result:
    """What ``process`` wrote: the output (file or PNG folder), the matte, and how fast."""

    output: Path
    frames: int
    seconds: float
    fps: float
    notices: list[str] = field(default_factory=list)
    matte: Path | None = None


@dataclass(frozen=True)
class MatteFrame:
    """One frame from ``mattes``, upright, at the input's size.

    pts: the input's timestamp, in its time base; time: the same in seconds.
    image: uint8 [H, W, 3] RGB, the decoded frame. alpha: uint8 [H, W].
    foreground: uint8 [H, W, 3], the model's predicted colour of the person.
    """

    pts: int
    time: float
    image: np.ndarray
    alpha: np.ndarray
    foreground: np.ndarray


@dataclass
class Batch:
    """Consecutive decoded frames: uint8 [T, H, W, 3] and one pts each (input time base).

    ``warmup``: frames before a part's own, run through the model only to settle its state.
    """

    rgb: np.ndarray
    pts: list[int]
    warmup: bool = False


@dataclass
class Matted:
    """A batch through the model: src [T, 3, H, W] float in [0, 1] on the device, and the
    refiner's coefficients a, b [T, 4, h, w]. ``fgr`` [T, 3, H, W] and ``pha`` [T, 1, H, W]
    are computed from them (eagerly) on first use; the fused tail reads a and b instead."""

    batch: Batch
    src: Tensor
    a: Tensor
    b: Tensor

    @cached_property
    def refined(self) -> tuple[Tensor, Tensor]:
        """(fgr, pha) at full resolution, by the eager reference."""
        return DeepGuidedFilterRefiner.apply(self.a, self.b, self.src)

    @property
    def fgr(self) -> Tensor:
        return self.refined[0]

    @property
    def pha(self) -> Tensor:
        return self.refined[1]


def process(
    input: str | os.PathLike,
    output: str | os.PathLike | None = None,
    *,
    background: str | os.PathLike | None = None,
    alpha: str | None = None,
    matte: str | os.PathLike | None = None,
    downsample: float | str = "auto",
    batch: int | None = None,
    device: str = "auto",
    precision: str = "auto",
    overwrite: bool = False,
    codec: str | None = None,
    crf: int | None = None,
    light_wrap: float | None = None,
    compile: str = "auto",
    model: Model | None = None,
    on_progress: ProgressCallback | None = None,
    on_notice: NoticeCallback | None = None,
) -> Result:
    """Replace the background of ``input`` (or cut the person out), keeping audio and timing.

    A still image (.png, .jpg, .webp, ...) gives a still image (default <stem>.bgrm.png).

    Arguments:
        input: the video file, or a still image.
        output: the file to write (its suffix picks the container: .mp4, .mov, .mkv, .webm),
            or the folder for ``alpha="png"``; None: <stem>.bgrm<ext> beside the input.
        background: an image or video file, a colour ("#1e1e1e", "white"), "blur" or
            "blur:N" (N: radius in pixels at 1080p); None: "blur".
        alpha: "prores" (.mov), "webm" (.webm) or "png" (a folder): the person over
            transparency instead of a background.
        matte: also write the alpha as a grayscale video here (.mkv: lossless), same pass.
        downsample: "auto" (the model sees the long side near 512 px) or a ratio in (0, 1].
        batch: frames per model call; None: chosen for the device and the frame size.
        device: "auto", "cpu", "cuda" or "cuda:N"; with ``model``, "auto" is the model's.
        precision: "auto", "fp32" or "fp16"; with ``model``, "auto" is the model's.
        overwrite: replace existing outputs (a PNG folder only if bgrm wrote it).
        codec: the composite's codec, "h264", "hevc", "av1" or "vp9"; None: h264 (vp9 in
            .webm). The container must take it.
        crf: the composite's constant rate factor; None: the codec's default.
        light_wrap: the new background's light wraps the person's edge, this strong (0, 1]
            (0.5 is a good start); None: off. Not with the blurred room or ``alpha``.
        compile: the full-resolution tail (refine, composite, uint8) compiled into one pass:
            "auto" where the frames outnumber the compile time (on the CPU), "on", "off".
            Where compiling fails (no C compiler) the eager path runs; the pixels agree
            within 1/255.
        model: from ``load_model()``, to load the weights once for many calls.
        on_progress: called with (frames done, total or None) after every batch; an exception
            it raises stops the job, and nothing is left behind.
        on_notice: called with each notice as it happens (also kept in ``Result.notices``).

    Returns:
        Result(output, frames, seconds, fps, notices, matte).

    Raises:
        InputError: the input or the background is missing or unusable.
        UsageError: parameters that contradict each other or are out of range.
        OutputError: the output exists (without ``overwrite``) or cannot be written.
        EnvironmentProblem: weights missing and not fetchable, or no such CUDA device.
    """
    job = Job(
        input=input,
        output=output,
        background=background,
        alpha=alpha,
        matte=matte,
        downsample=downsample,
        batch=batch,
        device=device,
        precision=precision,
        overwrite=overwrite,
        codec=codec,
        crf=crf,
        light_wrap=light_wrap,
        compile=compile,
    )
    return run(job, model=model, on_progress=on_progress, on_notice=on_notice)


def run(
    job: Job,
    *,
    model: Model | None = None,
    on_progress: ProgressCallback | None = None,
    on_notice: NoticeCallback | None = None,
) -> Result:
    """``process`` for a :class:`Job` (what a queue worker receives as JSON)."""
    return _run(job, None, None, model, on_progress, on_notice)


def run_part(
    job: Job,
    part: Part,
    folder: str | os.PathLike,
    *,
    model: Model | None = None,
    on_progress: ProgressCallback | None = None,
    on_notice: NoticeCallback | None = None,
) -> Result:
    """One part of a split job (see :func:`bgrm.plan_parts`): its frames, encoded as the whole
    job's would be but without audio, go into ``folder``; :func:`bgrm.join_parts` makes the
    job's outputs from them. The model first runs over the part's warm-up frames. The files
    appear complete or not at all; a marker written last says the part is done.

    Returns the part's Result (``output`` is ``folder``); ``on_progress`` counts its own frames.
    """
    folder = Path(folder)
    folder.mkdir(exist_ok=True)
    return _run(job, part, folder, model, on_progress, on_notice)


def _run(
    job: Job,
    part: Part | None,
    folder: Path | None,
    model: Model | None,
    on_progress: ProgressCallback | None,
    on_notice: NoticeCallback | None,
) -> Result:
    """The whole job (``part`` None) or one part of it into ``folder``."""
    notices: list[str] = []

    def notice(message: str) -> None:
        notices.append(message)
        if on_notice is not None:
            on_notice(message)

    info = probe(Path(job.input))
    if part is None:
        check_targets(job)
    if info.colour.hdr:
        notice(
            f"HDR input ({info.colour.hdr}): written with its own colour tags at 8 bits per "
            f"channel (banding is possible); a background is placed as it is, not made HDR"
        )
    spec = None if job.alpha else parse_background(job.background_spec)
    session, size = model_session(job, info, model, notice)
    keep_freed_memory()
    started = time.perf_counter()
    report = DecodeReport()
    background = None
    try:
        if spec is not None:
            background = open_background(
                spec, info.height, info.width, session.model.device, notice, info.sample_aspect
            )
        if part is None:
            sinks = _open(lambda: open_sinks(job, info, notice), job)
        else:
            sinks = _open(lambda: open_part_sinks(job, info, folder, part, notice), job)
        source = decode_batches(info, size, report, part)
        tail = _tail(job, info, part, session, notice)
        frames = _write(sinks, source, info, session, background, tail, on_progress, job, part)
    finally:
        if background is not None:
            background.close()
    for message in report.warnings(info, whole_file=part is None):
        notice(message)
    seconds = time.perf_counter() - started
    result = Result(
        output=job.output_path() if part is None else folder,
        frames=frames,
        seconds=seconds,
        fps=frames / seconds if seconds > 0 else 0.0,
        notices=notices,
        matte=Path(job.matte) if job.matte and part is None else None,
    )
    if part is not None:
        summary = {"frames": frames, "seconds": seconds, "notices": notices}
        mark_part_done(folder, part, summary)
    return result


def mattes(
    input: str | os.PathLike,
    *,
    downsample: float | str = "auto",
    batch: int | None = None,
    device: str = "auto",
    precision: str = "auto",
    model: Model | None = None,
    on_notice: NoticeCallback | None = None,
) -> Iterator[MatteFrame]:
    """Every frame of ``input`` with its alpha and foreground, one at a time, in order.

    Streaming: memory stays flat however long the video is (a couple of batches are decoded
    ahead in a thread). The input is checked at once; stop iterating at any time. Parameters
    are those of ``process``; ``on_notice`` hears of damage met while decoding.

    Raises:
        InputError, UsageError, EnvironmentProblem: as ``process``.
    """
    job = Job(input=input, downsample=downsample, batch=batch, device=device, precision=precision)
    notice = on_notice or (lambda message: None)
    info = probe(Path(job.input))
    session, size = model_session(job, info, model, notice)
    return _matte_frames(info, session, size, notice)


def decode_batches(
    info: VideoInfo, size: int, report: DecodeReport, part: Part | None = None
) -> Iterator[Batch]:
    """Decoded frames grouped into batches of ``size`` (a batch may be shorter at the end and
    where a part's warm-up ends). Damage met on the way is counted in ``report``.

    With ``part``: its warm-up frames (as warm-up batches), then its own frames, and no more.
    """
    rgb: list[np.ndarray] = []
    pts: list[int] = []
    warming = False
    start = None
    if part is not None:
        start = part.start_pts if part.warmup_pts is None else part.warmup_pts
    path, size_hw = info.path, (info.height, info.width)
    for frame in read_frames(path, size=size_hw, report=report, start_pts=start):
        warmup = part is not None and not part.owns(frame.pts)  # before its start, or after
        if warmup and part.end_pts is not None and frame.pts >= part.end_pts:
            break
        if rgb and warmup != warming:
            yield Batch(np.stack(rgb), pts, warmup=warming)
            rgb, pts = [], []
        warming = warmup
        rgb.append(frame.rgb)
        pts.append(frame.pts)
        if len(rgb) == size:
            yield Batch(np.stack(rgb), pts, warmup=warming)
            rgb, pts = [], []
    if rgb:
        yield Batch(np.stack(rgb), pts, warmup=warming)


def batches_of(rgb: np.ndarray, size: int) -> list[Batch]:
    """Frames already in memory, uint8 [N, H, W, 3], in batches of ``size``; pts = index."""
    return [
        Batch(rgb[i : i + size], list(range(i, min(i + size, len(rgb)))))
        for i in range(0, len(rgb), size)
    ]


def matte_batches(session: MattingSession, batches: Iterable[Batch]) -> Iterator[Matted]:
    """The model over ``batches`` in order, the recurrent state carried: upload the uint8
    frames, make them float on the device, run the model to the refiner's coefficients."""
    device = session.model.device
    for batch in batches:
        src = from_uint8_hwc(torch.from_numpy(batch.rgb).to(device))
        a, b = session.coefficients(src)
        yield Matted(batch, src, a, b)


def model_session(
    job: Job, info: VideoInfo, model: Model | None, notice: NoticeCallback
) -> tuple[MattingSession, int]:
    """The model ready for this job (loaded if not given) and the batch size to use."""
    if model is None:
        model = load_model(job.device, job.precision, on_notice=notice)
    else:
        model = _as_asked(model, job)
    ratio = job.downsample_ratio(info.height, info.width)
    plan = plan_batch(
        job.batch or default_batch(model.device, info.height, info.width),
        info.height,
        info.width,
        ratio,
        free_memory(model.device),
    )
    for message in (plan.notice, large_frame_notice(info.height, info.width, ratio, plan.batch)):
        if message:
            notice(message)
    return MattingSession(model, ratio), plan.batch


def _as_asked(model: Model, job: Job) -> Model:
    """``model`` at the job's precision; refused when the job asks for another device."""
    if job.device != "auto":
        asked = resolve_device(job.device)
        if (asked.type, asked.index or 0) != (model.device.type, model.device.index or 0):
            raise UsageError(
                f"`device` {job.device} is not where the model was loaded ({model.device})"
            )
    return model if job.precision == "auto" else model.with_precision(job.precision)


def _tail(
    job: Job, info: VideoInfo, part: Part | None, session: MattingSession, notice: NoticeCallback
) -> FusedTail | None:
    """The fused tail where ``job.compile`` asks for it or, for "auto", where it pays."""
    frames = info.expected_frames if part is None else part.expected_frames
    device = session.model.device
    tail = open_tail(job.compile, frames, info.height, info.width, device, weights.home())
    if tail is not None and not tail.warm:
        notice(
            f"compiling the full-resolution tail for {info.width}x{info.height} frames "
            f"(once per frame size, then cached)"
        )
    return tail


def _open(opener: Callable[[], list[Sink]], job: Job) -> list[Sink]:
    """The job's sinks; a write error while opening them names the output."""
    try:
        return opener()
    except WriteError as error:
        raise OutputError(
            f"cannot write the output ({error.reason}): {job.output_path()}"
        ) from error


def _write(
    sinks: list[Sink],
    source: Iterator[Batch],
    info: VideoInfo,
    session: MattingSession,
    background: Background | None,
    tail: FusedTail | None,
    on_progress: ProgressCallback | None,
    job: Job,
    part: Part | None,
) -> int:
    """Stream every frame into ``sinks`` and put them in place; returns the number of frames.
    On any error the sinks' temp files are removed."""
    try:
        frames = _stream(
            source, info, session, background, tail, sinks, on_progress, part, job.light_wrap
        )
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


def _stream(
    source: Iterator[Batch],
    info: VideoInfo,
    session: MattingSession,
    background: Background | None,
    tail: FusedTail | None,
    sinks: list[Sink],
    on_progress: ProgressCallback | None,
    part: Part | None,
    light: float | None,
) -> int:
    """Matte, finish and encode every frame; returns the number of frames (warm-up frames
    only go through the model).

    ``background`` is None for alpha outputs. Its times run from the input's first frame.
    ``tail``: the fused tail, or None for the eager one.
    """
    needs = {sink.pixels for sink in sinks}
    decoded = Prefetcher(source, depth=2, name="decode")
    encoders = [Consumer(sink.write, depth=2, name=f"encode-{sink.pixels}") for sink in sinks]
    done = 0
    origin = info.start_pts
    total = info.expected_frames if part is None else part.expected_frames
    try:
        with torch.inference_mode():
            for matted in matte_batches(session, decoded):
                if matted.batch.warmup:  # reported, so that a caller may stop it meanwhile
                    if on_progress is not None:
                        on_progress(done, total)
                    continue
                pts = matted.batch.pts
                origin = pts[0] if origin is None else origin
                times = [float((p - origin) * info.time_base) for p in pts]
                host = finish(matted, needs, background, times, light, tail)
                for encoder in encoders:
                    encoder.put(host)
                done += len(pts)
                if on_progress is not None:
                    on_progress(done, total)
        for encoder in encoders:
            encoder.finish()
    except BaseException:
        for encoder in encoders:
            encoder.cancel()
        raise
    finally:
        decoded.stop()
    if on_progress is not None:
        on_progress(done, done)  # the exact total, where the header's estimate was off
    return done


def finish(
    matted: Matted,
    needs: set[str],
    background: Background | None,
    times: list[float],
    light: float | None,
    tail: FusedTail | None = None,
) -> HostFrames:
    """A batch through the model -> what the outputs need ("rgb", "rgba", "matte") as uint8
    on the host: the composite over ``background`` (at ``times``, seconds from the input's
    first frame; its light wrapping the person's edge ``light`` strong), the RGBA person, the
    matte. With ``tail``, each is one compiled pass (bgrm/tail.py); the eager path otherwise,
    and wherever the tail cannot run."""
    host = HostFrames(matted.batch.pts)
    if "rgb" in needs:
        host.rgb = _composite(matted, background, times, light, tail).cpu().numpy()
    if "rgba" in needs:
        rgba = _fused(tail, "rgba", matted.a, matted.b, matted.src)
        host.rgba = (to_rgba_uint8(matted.fgr, matted.pha) if rgba is None else rgba).cpu().numpy()
    if "matte" in needs:
        matte = _fused(tail, "matte", matted.a, matted.b, matted.src)
        host.matte = (matte_to_uint8(matted.pha) if matte is None else matte).cpu().numpy()
    return host


def _composite(
    matted: Matted,
    background: Background,
    times: list[float],
    light: float | None,
    tail: FusedTail | None,
) -> Tensor:
    """The composite, uint8 [T, H, W, 3] on the device. A pure background (colour, image,
    blurred room, grayscale) is computed inside the fused pass; a video's frames first."""
    bg = None if background.pure else background.frames(matted.src, None, times)
    if tail is not None:
        fused = tail.composite(matted.a, matted.b, matted.src, bg, background, light)
        if fused is not None:
            return fused
    return to_uint8_hwc(
        over_background(matted.fgr, matted.pha, matted.src, bg, background, times, light)
    )


def _fused(tail: FusedTail | None, kind: str, *args: object) -> Tensor | None:
    """The tail's kernel ``kind`` over ``args``, or None (no tail, or it cannot run)."""
    return None if tail is None else tail.call(kind, *args)


def _matte_frames(
    info: VideoInfo, session: MattingSession, size: int, notice: NoticeCallback
) -> Iterator[MatteFrame]:
    """The generator behind ``mattes``: decoding starts at the first ``next``."""
    report = DecodeReport()
    decoded = Prefetcher(decode_batches(info, size, report), depth=2, name="decode")
    try:
        for matted in matte_batches(session, decoded):
            alpha = matte_to_uint8(matted.pha).cpu().numpy()
            foreground = to_uint8_hwc(matted.fgr).cpu().numpy()
            for index, pts in enumerate(matted.batch.pts):
                yield MatteFrame(
                    pts=pts,
                    time=float(pts * info.time_base),
                    image=matted.batch.rgb[index],
                    alpha=alpha[index],
                    foreground=foreground[index],
                )
    finally:
        decoded.stop()
    for message in report.warnings(info):
        notice(message)
