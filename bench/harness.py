"""The benchmark harness: a stage timer, and a job run in a child process with its peak RSS.

    python -m bgrm_bench.harness '<Job as JSON>'    # the child: runs the job, prints its Result

The child is started through ``bgrm_bench.peakrss`` (a small process), so the peak RSS it
reports is the child's own (see there), and it runs the job through the library
(``bgrm.run``), so nothing is parsed from the CLI's messages.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

import bgrm


def rate(frames: int, run: Callable[[], None], device: torch.device) -> float:
    """Frames per second of ``run()``, which handles ``frames`` frames on ``device``."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    run()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return frames / (time.perf_counter() - started)


@dataclass
class ProcessRun:
    """One job run in a child process."""

    frames: int
    fps: float  # as bgrm.Result reports it (decode to the last frame written)
    wall_fps: float  # frames / wall clock, start-up included
    peak_rss_mib: float  # of that child alone


def measure_process(job: bgrm.Job) -> ProcessRun:
    """Run ``job`` in a child process (Python, bgrm and the model loaded there): its speed and
    peak RSS."""
    child = [sys.executable, "-m", "bgrm_bench.harness", job.to_json()]
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bgrm_bench.peakrss", *child], capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or len(lines) < 2:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise bgrm.BgrmError(f"bench: the job failed: {reason}")
    result, usage = json.loads(lines[-2]), json.loads(lines[-1])
    if usage["exit"] != 0:
        raise bgrm.BgrmError(f"bench: the job failed with exit {usage['exit']}")
    frames = result["frames"]
    return ProcessRun(frames, result["fps"], frames / wall, usage["peak_rss_kib"] / 1024)


def main() -> None:
    result = bgrm.run(bgrm.Job.from_json(sys.argv[1]))
    print(json.dumps({"frames": result.frames, "fps": result.fps, "seconds": result.seconds}))


if __name__ == "__main__":
    main()
