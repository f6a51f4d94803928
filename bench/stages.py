"""`bgrm bench`: CPU ms a frame of each stage of the path a job takes, for both models, and
frames/s of the whole job.

    row, path = job_stages(job, "selfie", frames=48)   # {"decode": ms, ...}, "planes"
    report = run_bench(job, frames=48)                  # both models, and the job end to end

Stages, timed in this process over the first frames of the clip, one torch thread (CPU time is
process time, so threads the codec starts count too), each as the job runs it (the path chosen
by the pipeline itself: the composite in the output's planes or in RGB):
- decode: the library's decoder, to the codec's planes (the planes' path) or to RGB;
- model input: FFmpeg's scaler straight to the model's size where the model takes it (the
  selfie model), else the full frame made float and resized in torch (RVM);
- model: the network and its guided filter's coefficients;
- full-resolution step: the alpha at full size, the blend over the background and the uint8
  frames on the host: in the planes or in RGB, compiled where the job's ``compile`` picks it
  (compiled before the timing);
- encode: bgrm's writer, from the planes or from RGB (converted to YUV by swscale).
End to end is the job's own model in a child process (bgrm_bench.harness: frames/s as bgrm
reports it, and its peak RSS). bench/pixelpath.py times the same stages both ways.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import torch

import bgrm
from bgrm.backgrounds import Background, open_background, parse_background
from bgrm.batches import Batch, decode_batches
from bgrm.composite import from_uint8_hwc
from bgrm.finish import finish, finish_planes
from bgrm.finish.fused import FusedTail, open_tail
from bgrm.finish.planes import PlanePath
from bgrm.matting import weights
from bgrm.matting.plane_input import PlaneInput
from bgrm.matting.session import Matted, MattingSession
from bgrm.media.decode import DecodeReport
from bgrm.media.formats import composite_encoding
from bgrm.media.info import VideoInfo
from bgrm.media.planes import ModelInput, planes_of, scaled_rgb
from bgrm.media.probe import probe
from bgrm.media.writer import FrameWriter
from bgrm.pipeline import _plane_path  # the pipeline's own choice of path
from bgrm.resources import keep_freed_memory, resolve_device
from bgrm_bench.harness import measure_process

MODELS = ("rvm", "selfie")
STAGES = ("decode", "model input", "model", "full-resolution step", "encode")


def cpu_ms(frames: int, run: Callable[[], object]) -> float:
    """CPU ms a frame (process time) of ``run()``, which handles ``frames`` frames."""
    started = time.process_time()
    run()
    return (time.process_time() - started) * 1000 / frames


def decoded(clip: Path, count: int) -> list[av.VideoFrame]:
    """The first ``count`` frames as the codec gives them (one decoding thread)."""
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "NONE"
        return [frame for _, frame in zip(range(count), container.decode(stream), strict=False)]


def decode_stage(info: VideoInfo, count: int, planes: bool) -> tuple[float, list[Batch]]:
    """CPU ms a frame of the library's decoder over ``count`` frames, to the codec's planes
    (``planes``) or to RGB, and the frames, one a batch."""
    batches: list[Batch] = []

    def decode() -> None:
        batches.clear()
        source = decode_batches(info, 1, DecodeReport(), planes=planes)
        batches.extend(itertools.islice(source, count))

    decode()  # once untimed: the codec's first start in a process costs more
    return cpu_ms(count, decode), batches


def model_input_stage(
    session: MattingSession,
    info: VideoInfo,
    frames: list[av.VideoFrame],
    wanted: ModelInput | None,
    from_planes: PlaneInput | None = None,
) -> tuple[float, list[torch.Tensor]]:
    """CPU ms a frame of making the model's input [1, 3, h, w] from each decoded frame: by
    FFmpeg's scaler (``wanted``), from the frame's planes on the device (``from_planes``:
    RVM's taps), else the full RGB frame made float and resized in torch."""
    network, ratio = session.model.network, session.downsample_ratio
    if wanted is None and from_planes is None:  # RGB frames: the decode stage's work
        rgb = [torch.from_numpy(f.to_ndarray(format="rgb24"))[None] for f in frames]
    if from_planes is not None:
        planes = [torch.from_numpy(planes_of(f))[None] for f in frames]

    device = session.model.device

    def make(count: int) -> list[torch.Tensor]:  # uploaded, as matte_batches does
        if from_planes is not None:
            return [from_planes(p.to(device)) for p in planes[:count]]
        if wanted is None:
            return [network.model_input(from_uint8_hwc(x.to(device)), ratio) for x in rgb[:count]]
        small = (scaled_rgb(f, wanted.size, info.colour, wanted.filter) for f in frames[:count])
        return [from_uint8_hwc(torch.from_numpy(x)[None].to(device)) for x in small]

    make(1)  # once untimed: the first full-size float frame in a process costs more
    bases: list[torch.Tensor] = []
    return cpu_ms(len(frames), lambda: bases.extend(make(len(frames)))), bases


def model_stage(
    session: MattingSession, bases: list[torch.Tensor]
) -> tuple[float, list[tuple[torch.Tensor, torch.Tensor]]]:
    """CPU ms a frame of the network over the model's inputs, its state carried, to the
    guided filter's coefficients (a, b) of each frame."""
    network, ratio = session.model.network, session.downsample_ratio
    coefficients: list[tuple[torch.Tensor, torch.Tensor]] = []

    def run() -> None:
        state: tuple = ()
        for base in bases:
            a, b, *state = network.coefficients(None, 1, tuple(state), ratio, base=base)
            coefficients.append((a, b))

    return cpu_ms(len(bases), run), coefficients


def full_resolution_stage(
    batches: list[Batch],
    coefficients: list[tuple[torch.Tensor, torch.Tensor]],
    background: Background,
    path: PlanePath | None,
    tail: FusedTail | None,
) -> tuple[float, list[np.ndarray]]:
    """CPU ms a frame of the full-resolution step: the alpha at full size, the blend over
    ``background`` and the uint8 frames on the host, in the planes (``path``) or in RGB,
    through ``tail`` where given (run once before the timing: compiled then)."""

    def run() -> list[np.ndarray]:
        out = []
        for batch, (a, b) in zip(batches, coefficients, strict=True):
            matted = Matted(batch, None, a, b)
            if path is not None:
                out.append(finish_planes(matted, path, [0.0], tail).rgb[0])
            else:
                out.append(finish(matted, {"rgb"}, background, [0.0], None, tail).rgb[0])
        return out

    if tail is not None:
        run()
    outputs: list[np.ndarray] = []
    return cpu_ms(len(batches), lambda: outputs.extend(run())), outputs


def encode_stage(
    info: VideoInfo, outputs: list[np.ndarray], batches: list[Batch], target: Path
) -> float:
    """CPU ms a frame of bgrm's writer over ``outputs`` (yuv420p planes or RGB frames), shown
    at the ``batches``' times."""

    def encode() -> None:
        with FrameWriter(target, info, composite_encoding(target)) as writer:
            for pixels, batch in zip(outputs, batches, strict=True):
                writer.write(pixels, batch.pts[0])

    return cpu_ms(len(outputs), encode)


def job_stages(
    job: bgrm.Job, name: str, count: int, tmp: Path, rgb: bool = False
) -> tuple[dict[str, float], str]:
    """CPU ms a frame of each stage (STAGES) of ``job`` with model ``name`` over its input's
    first ``count`` frames, one torch thread, and the path it takes ("planes" or "RGB"; with
    ``rgb``, the RGB path even where the job would take the planes)."""
    job = dataclasses.replace(job, model=name)
    keep_freed_memory()  # as a job does: freed frame buffers stay in the process
    info = probe(Path(job.input))
    height, width = info.height, info.width
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    model = bgrm.load_model(job.device, job.precision, model=name)
    session = MattingSession(model, job.downsample_ratio(height, width))
    background = open_background(parse_background(job.background_spec), height, width, model.device)
    try:
        path = None if rgb else _plane_path(job, info, background)
        tail = open_tail(
            job.compile,
            info.expected_frames,
            height,
            width,
            model.device,
            weights.home(),
            path is not None,
        )
        row = {}
        row["decode"], batches = decode_stage(info, count, path is not None)
        wanted = session.model_input(height, width)
        with torch.inference_mode():
            frames = decoded(Path(job.input), len(batches))
            from_planes = None
            if path is not None:
                from_planes = session.plane_input(info.colour, height, width)
            row["model input"], bases = model_input_stage(
                session, info, frames, wanted, from_planes
            )
            row["model"], coefficients = model_stage(session, bases)
            row["full-resolution step"], outputs = full_resolution_stage(
                batches, coefficients, background, path, tail
            )
        target = tmp / f"encode-{name}{Path(job.input).suffix}"
        row["encode"] = encode_stage(info, outputs, batches, target)
    finally:
        background.close()
        torch.set_num_threads(threads)
    return row, "RGB" if path is None else "planes"


@dataclass
class BenchReport:
    stages: dict[str, dict[str, float]]  # CPU ms a frame of each stage, by model
    paths: dict[str, str]  # the path each model's job takes: "planes" or "RGB"
    end_to_end: float  # frames/s of the whole job (its own model)
    peak_rss_mib: float  # of the job's child process
    settings: dict[str, object]

    def as_dict(self) -> dict[str, object]:
        return {
            "stages_cpu_ms": self.stages,
            "paths": self.paths,
            "end_to_end_fps": self.end_to_end,
            "peak_rss_mib": self.peak_rss_mib,
            "settings": self.settings,
        }

    def table(self) -> str:
        """The stage table: a row a stage, a column a model, CPU ms a frame; then the job."""
        names = list(self.stages)
        rows = [f"{self.settings['size']}, {self.settings['frames_timed']} frames, CPU ms a frame"]
        rows.append(f"{'stage':<22}" + "".join(f"{name:>9}" for name in names))
        for stage in (*STAGES, "total"):
            values = (self.stages[name][stage] for name in names)
            rows.append(f"{stage:<22}" + "".join(f"{value:9.1f}" for value in values))
        rows.append(f"{'path':<22}" + "".join(f"{self.paths[name]:>9}" for name in names))
        rows.append(
            f"end to end ({self.settings['model']}): {self.end_to_end:.2f} frames/s, "
            f"peak RSS {self.peak_rss_mib:.0f} MiB"
        )
        return "\n".join(rows)


def run_bench(job: bgrm.Job, frames: int = 48) -> BenchReport:
    """Time each stage of the path ``job`` takes on the first ``frames`` frames of its input,
    for both models, then the whole job (with its own model) in a child process."""
    clip = Path(job.input)
    info = probe(clip)
    stages: dict[str, dict[str, float]] = {}
    paths: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="bgrm-bench-") as tmp:
        for name in MODELS:
            stages[name], paths[name] = job_stages(job, name, frames, Path(tmp))
            stages[name]["total"] = sum(stages[name].values())
        whole = dataclasses.replace(job, output=str(Path(tmp) / f"process{clip.suffix}"))
        run = measure_process(whole)
    device = resolve_device(job.device)
    settings = {
        "clip": str(clip),
        "size": f"{info.width}x{info.height}",
        "frames_timed": min(frames, info.expected_frames or frames),
        "model": job.model,
        "device": str(device),
        "device_name": _device_name(device),
        "torch_threads": 1,
        "background": job.background,
        "compile": job.compile,
    }
    return BenchReport(stages, paths, run.fps, run.peak_rss_mib, settings)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def synthetic_clip(path: Path, width: int, height: int, frames: int) -> Path:
    """A clip with moving content (for when no clip is given): gradients and a moving disc."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "18"}
        for i in range(frames):
            cx, cy = width * (0.3 + 0.4 * (i % 60) / 60), height * 0.5
            disc = ((xs - cx) ** 2 + (ys - cy) ** 2) < (height * 0.3) ** 2
            rgb = np.stack([xs / width, ys / height, np.full_like(xs, (i % 30) / 30)], -1)
            rgb[disc] = (0.9, 0.7, 0.6)
            frame = av.VideoFrame.from_ndarray((rgb * 255).astype(np.uint8), format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path
