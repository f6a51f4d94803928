"""`bgrm bench`: frames/s of each pipeline stage alone and of the whole pipeline, on one clip.

Stages are timed in this process over the same frames: decode (PyAV, to RGB), model (upload,
uint8 -> float on the device, RVM with its state, to the refiner's coefficients), composite
(the full-resolution tail: refine, background, blend, back to host uint8; fused where the job's
``compile`` picks it, compiled before the timing), encode (RGB -> H.264 or VP9). End to end
is the whole job run in a child process (bgrm_bench.harness), whose own peak RSS is reported
too. Efficiency = end to end / slowest.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import tempfile
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import torch

import bgrm
from bgrm.backgrounds import open_background, parse_background
from bgrm.batches import decode_batches
from bgrm.finish import finish
from bgrm.finish.fused import open_tail
from bgrm.matting import weights
from bgrm.matting.session import Matted, MattingSession, matte_batches
from bgrm.media.decode import DecodeReport
from bgrm.media.formats import composite_encoding
from bgrm.media.probe import probe
from bgrm.media.writer import FrameWriter
from bgrm.resources import default_batch, keep_freed_memory
from bgrm_bench.harness import measure_process, rate


@dataclass
class BenchReport:
    stages: dict[str, float]  # frames/s of each stage alone
    end_to_end: float  # frames/s of the whole job
    peak_rss_mib: float  # of the job's child process
    settings: dict[str, object]

    @property
    def slowest(self) -> str:
        return min(self.stages, key=self.stages.get)

    @property
    def efficiency(self) -> float:
        return self.end_to_end / self.stages[self.slowest]

    def as_dict(self) -> dict[str, object]:
        return {
            "stages_fps": self.stages,
            "end_to_end_fps": self.end_to_end,
            "slowest_stage": self.slowest,
            "efficiency": self.efficiency,
            "peak_rss_mib": self.peak_rss_mib,
            "settings": self.settings,
        }

    def table(self) -> str:
        rows = [f"{'stage':<12} {'frames/s':>9}"]
        rows += [f"{name:<12} {fps:>9.2f}" for name, fps in self.stages.items()]
        rows.append(f"{'end to end':<12} {self.end_to_end:>9.2f}")
        rows.append(f"efficiency {self.efficiency:.2f} (end to end / {self.slowest})")
        rows.append(f"peak RSS {self.peak_rss_mib:.0f} MiB (the whole job)")
        return "\n".join(rows)


def run_bench(job: bgrm.Job, frames: int = 48) -> BenchReport:
    """Time each stage on the first ``frames`` frames of the input, then the whole job."""
    keep_freed_memory()
    clip = Path(job.input)
    info = probe(clip)
    model = bgrm.load_model(job.device, job.precision, model=job.model)
    device = model.device
    batch = job.batch or default_batch(device, info.height, info.width)
    ratio = job.downsample_ratio(info.height, info.width)
    session = MattingSession(model, ratio)
    background = open_background(
        parse_background(job.background_spec), info.height, info.width, device
    )

    decoded = []

    def decode() -> None:
        for item in decode_batches(info, batch, DecodeReport()):
            decoded.append(item)
            if sum(len(b.pts) for b in decoded) >= frames:
                return

    stages = {"decode": rate(frames, decode, device)}
    count = sum(len(b.pts) for b in decoded)
    with torch.inference_mode():
        next(matte_batches(session, decoded[:1]))  # warm-up, not timed
        session.reset()

        def matte() -> None:  # outputs dropped at once, as the pipeline hands them on
            for _ in matte_batches(session, decoded):
                pass

        stages["model"] = rate(count, matte, device)
        first = next(matte_batches(session, decoded[:1]))
        tail = open_tail(
            job.compile, info.expected_frames, info.height, info.width, device, weights.home()
        )
        outputs = []

        def blend() -> None:  # the full-resolution tail: refine, background, blend, uint8
            for item in decoded:
                n = len(item.pts)
                matted = Matted(item, first.src[:n], first.a[:n], first.b[:n])
                outputs.append(finish(matted, {"rgb"}, background, [0.0] * n, None, tail).rgb)

        if tail is not None:  # compiled (or loaded from the cache) before the timing
            blend()
            outputs.clear()
        stages["composite"] = rate(count, blend, device)
    background.close()

    with tempfile.TemporaryDirectory(prefix="bgrm-bench-") as tmp:
        target = Path(tmp) / f"encode{clip.suffix}"

        def encode() -> None:
            with FrameWriter(target, info, composite_encoding(target)) as writer:
                for out, item in zip(outputs, decoded, strict=True):
                    for rgb, pts in zip(out, item.pts, strict=True):
                        writer.write(rgb, pts)

        stages["encode"] = rate(count, encode, device)
        whole = dataclasses.replace(job, output=str(Path(tmp) / f"process{clip.suffix}"))
        run = measure_process(whole)

    settings = {
        "clip": str(clip),
        "size": f"{info.width}x{info.height}",
        "frames_timed": count,
        "device": str(device),
        "device_name": _device_name(device),
        "batch": batch,
        "downsample": ratio,
        "precision": model.precision,
        "torch_threads": torch.get_num_threads(),
        "background": job.background,
        "tail": "eager" if tail is None or tail.failed else "fused",
    }
    return BenchReport(stages, run.fps, run.peak_rss_mib, settings)


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
