"""`bgrm bench`: frames/s of each pipeline stage alone and of the whole pipeline, on one clip.

Stages are timed in this process over the same frames: decode (PyAV, to RGB), model (upload,
uint8 -> float on the device, RVM with its state), composite (background, blend, back to host
uint8), encode (RGB -> H.264 or VP9). End to end is a real `bgrm process` run in a child
process, whose own peak RSS is reported too. Efficiency = end to end / slowest stage.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bgrm.allocator import keep_freed_memory
from bgrm.composite import (
    composite,
    from_uint8_hwc,
    make_background,
    parse_background,
    to_uint8_hwc,
)
from bgrm.device import default_batch, resolve_device, resolve_precision
from bgrm.errors import BgrmError
from bgrm.matting.model import MattingNetwork
from bgrm.matting.session import MattingSession
from bgrm.matting.weights import load_state_dict
from bgrm.options import ProcessOptions
from bgrm.pipeline import batches
from bgrm.video.decode import DecodeReport
from bgrm.video.encode import VideoWriter
from bgrm.video.probe import probe


@dataclass
class BenchReport:
    stages: dict[str, float]  # frames/s of each stage alone
    end_to_end: float  # frames/s of `bgrm process`
    peak_rss_mib: float  # of the `bgrm process` child
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
        rows.append(f"peak RSS {self.peak_rss_mib:.0f} MiB (bgrm process)")
        return "\n".join(rows)


def _rate(frames: int, run: Callable[[], None], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    run()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return frames / (time.perf_counter() - started)


@dataclass
class ProcessRun:
    """One `bgrm process` run in a child process."""

    frames: int
    fps: float  # as bgrm reports it (decode to the last frame written)
    wall_fps: float  # frames / wall clock, start-up included
    peak_rss_mib: float  # of that child alone


def measure_process(options: ProcessOptions, output: Path) -> ProcessRun:
    """Run `bgrm process` as ``options`` say, writing ``output``; its speed and peak RSS."""
    command = [
        sys.executable,
        "-m",
        "bgrm",
        "process",
        options.input,
        "-o",
        str(output),
        "-y",
        "--bg",
        options.background_spec,
        "--downsample",
        options.downsample,
        "--device",
        options.device,
        "--precision",
        options.precision,
    ]
    if options.batch:
        command += ["--batch", str(options.batch)]
    # Through bgrm.peakrss, a small process, so the child's peak RSS is its own (see there).
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bgrm.peakrss", *command], capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    match = re.search(r"\((\d+) frames, ([\d.]+) frames/s\)", done.stderr)
    if done.returncode != 0 or match is None:
        lines = done.stderr.strip().splitlines() or ["no output"]
        raise BgrmError(f"bench: bgrm process failed: {lines[-1]}")
    stats = json.loads(done.stdout.strip().splitlines()[-1])
    frames = int(match.group(1))
    return ProcessRun(frames, float(match.group(2)), frames / wall, stats["peak_rss_kib"] / 1024)


def run_bench(options: ProcessOptions, frames: int = 48) -> BenchReport:
    """Time each stage on the first ``frames`` frames of the input, then the whole pipeline."""
    keep_freed_memory()
    clip = Path(options.input)
    info = probe(clip)
    device = resolve_device(options.device)
    batch = options.batch or default_batch(device, info.height, info.width)
    ratio = options.downsample_ratio(info.height, info.width)
    model = MattingNetwork()
    model.load_state_dict(load_state_dict())
    session = MattingSession(model, device, ratio, resolve_precision(options.precision))
    background = make_background(
        parse_background(options.background_spec), info.height, info.width, device, session.dtype
    )

    decoded = []

    def decode() -> None:
        for item in batches(info, batch, DecodeReport()):
            decoded.append(item)
            if sum(len(b.pts) for b in decoded) >= frames:
                return

    stages = {"decode": _rate(frames, decode, device)}
    count = sum(len(b.pts) for b in decoded)
    uploaded = [torch.from_numpy(b.rgb).to(device) for b in decoded]
    with torch.inference_mode():
        session.step(from_uint8_hwc(uploaded[0], session.dtype))  # warm-up, not timed
        session.reset()

        def matte() -> None:  # outputs dropped at once, as the pipeline hands them on
            for rgb in uploaded:
                session.step(from_uint8_hwc(rgb, session.dtype))

        stages["model"] = _rate(count, matte, device)
        fgr, pha = session.step(from_uint8_hwc(uploaded[0], session.dtype))
        outputs = []

        def blend() -> None:
            for rgb in uploaded:
                n = rgb.shape[0]
                src = from_uint8_hwc(rgb, session.dtype)
                blended = composite(fgr[:n], pha[:n], background.frames(src, pha[:n]))
                outputs.append(to_uint8_hwc(blended).cpu().numpy())

        stages["composite"] = _rate(count, blend, device)

    with tempfile.TemporaryDirectory(prefix="bgrm-bench-") as tmp:
        target = Path(tmp) / f"encode{clip.suffix}"

        def encode() -> None:
            with VideoWriter(target, info) as writer:
                for out, item in zip(outputs, decoded, strict=True):
                    for rgb, pts in zip(out, item.pts, strict=True):
                        writer.write(rgb, pts)

        stages["encode"] = _rate(count, encode, device)
        run = measure_process(options, Path(tmp) / f"process{clip.suffix}")

    settings = {
        "clip": str(clip),
        "size": f"{info.width}x{info.height}",
        "frames_timed": count,
        "device": str(device),
        "device_name": _device_name(device),
        "batch": batch,
        "downsample": ratio,
        "precision": session.precision,
        "torch_threads": torch.get_num_threads(),
        "background": options.background,
    }
    return BenchReport(stages, run.fps, run.peak_rss_mib, settings)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def synthetic_clip(path: Path, width: int, height: int, frames: int) -> Path:
    """A clip with moving content (for when no clip is given): gradients and a moving disc."""
    import av

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
