"""Both models end to end on the same clip, in one run: `bgrm process --model rvm` against
`--model selfie`, alternating, as a user runs them (a child process each, start-up included).

    python bench/models.py --height 1080 --frames 120 --rounds 2

The clip is the real talking-head sample looped and scaled to 16:9 at --height, H.264 with
its audio; the background a colour, the output H.264, downsample auto (what a user gets).
Prints wall-clock frames/s of each model (median of the rounds) and their ratio, then JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bgrm_bench.process import make_clip  # noqa: E402
from samples.fetch import fetch_samples  # noqa: E402

MODELS = ("rvm", "selfie")


def seconds_of(command: list[str]) -> float:
    """Wall-clock seconds of ``command``, which must succeed."""
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    talk = fetch_samples(ROOT / "samples" / "media")["talk"]
    width = args.height * 16 // 9 // 2 * 2
    times: dict[str, list[float]] = {model: [] for model in MODELS}
    with tempfile.TemporaryDirectory(prefix="bgrm-models-") as tmp:
        clip = Path(tmp) / "clip.mp4"
        make_clip(talk, clip, width, args.height, args.frames, audio_from=talk)
        for _ in range(args.rounds):
            for model in MODELS:
                output = str(Path(tmp) / f"{model}.mp4")
                command = [sys.executable, "-m", "bgrm", "process", str(clip), "-o", output]
                command += ["-y", "-q", "--bg", "#00ff00", "--model", model]
                times[model].append(seconds_of(command))
    fps = {model: args.frames / statistics.median(times[model]) for model in MODELS}
    ratio = fps["selfie"] / fps["rvm"]
    print(
        f"{width}x{args.height}, {args.frames} frames, {os.cpu_count()} cores, "
        f"median of {args.rounds} alternating rounds, load {os.getloadavg()[0]:.1f}"
    )
    for model in MODELS:
        print(f"{model:>7}: {fps[model]:6.2f} frames/s (wall clock: {times[model]})")
    print(f"selfie / rvm: {ratio:.2f}x")
    print(json.dumps({"fps": fps, "seconds": times, "ratio": ratio}))


if __name__ == "__main__":
    main()
