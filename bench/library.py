"""The library against the CLI: the same job through `bgrm process` and through a script that
imports torch before it calls `bgrm.process`, quiet and with cores busy, in one run.

    python bench/library.py --height 360 --frames 120 --rounds 3 --busy 1

A script that loads torch first misses the CLI's choice of OpenMP's wait policy (made before
torch loads); the library must still run as fast: every job fits torch's threads to the cores
other work leaves free when its model session opens. Rounds alternate the two ways, so load
on the machine hits both alike. Prints wall-clock seconds (process start-up included, for
both), the median of each and the ratio library / CLI (1.0: as fast; above: slower).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bgrm_bench.baseline import busy, timed  # noqa: E402
from bgrm_bench.process import make_clip  # noqa: E402
from samples.fetch import fetch_samples  # noqa: E402

SCRIPT = """\
import sys
import torch  # first, as a user's script may: OpenMP is loaded before bgrm can choose
import bgrm
bgrm.process(sys.argv[1], sys.argv[2], background="#1e1e1e", model=sys.argv[3], overwrite=True)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--model", default="rvm", choices=["rvm", "selfie"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--busy", type=int, default=1, help="also measure with N busy loops")
    args = parser.parse_args()
    talk = fetch_samples(ROOT / "samples" / "media")["talk"]
    width = args.height * 16 // 9 // 2 * 2
    loads = [0, args.busy] if args.busy else [0]
    times: dict[int, dict[str, list[float]]] = {load: {"cli": [], "library": []} for load in loads}
    with tempfile.TemporaryDirectory(prefix="bgrm-library-") as tmp:
        folder = Path(tmp)
        clip = folder / "clip.mp4"
        make_clip(talk, clip, width, args.height, args.frames, audio_from=talk)
        script = folder / "script.py"
        script.write_text(SCRIPT)
        out = str(folder / "out.mp4")
        commands = {
            "cli": [sys.executable, "-m", "bgrm", "process", str(clip), "-o", out, "-y", "-q"]
            + ["--bg", "#1e1e1e", "--model", args.model],
            "library": [sys.executable, str(script), str(clip), out, args.model],
        }
        for load in loads:
            with busy(load):
                for _ in range(args.rounds):
                    for name, command in commands.items():
                        times[load][name].append(timed(command, folder))
    clip_line = f"{width}x{args.height}, {args.frames} frames, --model {args.model}"
    print(f"{clip_line}, median of {args.rounds}")
    report = {}
    for load in loads:
        median = {name: statistics.median(seconds) for name, seconds in times[load].items()}
        ratio = median["library"] / median["cli"]
        print(f"{load} busy loop(s):")
        for name, seconds in times[load].items():
            rounded = [round(s, 2) for s in seconds]
            print(f"{name:>9}: {median[name]:6.2f} s median (wall clock: {rounded})")
        print(f"  library / CLI: {ratio:.2f}")
        report[f"busy{load}"] = {"seconds": times[load], "library_over_cli": ratio}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
