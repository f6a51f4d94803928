"""Alpha error and file size per minute of every alpha output, on a 1080p clip of the sample.

    python bench/alpha_sizes.py --height 1080 --frames 60 --downsample 0.25

Makes a clip from the real sample (looped, scaled to cover 16:9 at --height, no audio), runs
bgrm.process once per format (--alpha prores with a lossless --matte .mkv as the reference
alpha, --alpha webm, --alpha png), reads every output back as an editor would (ProRes with
FFmpeg's prores decoder, WebM with libvpx-vp9, PNGs with Pillow) and prints the alpha error
against the model's own alpha (mean and max, in 1/255) and the size extrapolated to one minute.
Sizes are video only: the clip has no audio.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bgrm  # noqa: E402
from bgrm_bench.process import make_clip  # noqa: E402
from samples.fetch import fetch_samples  # noqa: E402
from tests.test_alpha import alpha_error, gray_frames, prores_alpha, rgba_frames  # noqa: E402

FPS = 30000 / 1001


def size_of(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir() if p.suffix == ".png")
    return path.stat().st_size


def measure(tmp: Path, clip: Path, frames: int, downsample: str) -> list[dict]:
    outputs = {
        "prores": tmp / "alpha.mov",
        "webm": tmp / "alpha.webm",
        "png": tmp / "frames",
    }
    matte = tmp / "matte.mkv"
    model = bgrm.load_model()
    for kind, output in outputs.items():
        reference = matte if kind == "prores" else None
        bgrm.process(clip, output, alpha=kind, matte=reference, downsample=downsample, model=model)
    _, reference = gray_frames(matte)
    pngs = sorted(outputs["png"].glob("frame_*.png"))
    alphas = {
        "prores": prores_alpha(outputs["prores"]),
        "webm": rgba_frames(outputs["webm"], decoder="libvpx-vp9")[2][..., 3],
        "png": np.stack([np.asarray(Image.open(p))[..., 3] for p in pngs]),
    }
    rows = []
    for kind, alpha in alphas.items():
        mean, worst = alpha_error(alpha, reference)
        mib_per_minute = size_of(outputs[kind]) / frames * FPS * 60 / 2**20
        rows.append({"format": kind, "mean": mean, "max": worst, "mib_per_min": mib_per_minute})
    rows.append(
        {
            "format": "matte .mkv (FFV1)",
            "mean": 0.0,
            "max": 0,
            "mib_per_min": size_of(matte) / frames * FPS * 60 / 2**20,
        }
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--downsample", default="0.25")
    args = parser.parse_args()
    width = args.height * 16 // 9 // 2 * 2
    talk = fetch_samples(ROOT / "samples" / "media")["talk"]
    with tempfile.TemporaryDirectory(prefix="bgrm-alpha-") as tmp:
        clip = Path(tmp) / "clip.mp4"
        make_clip(talk, clip, width, args.height, args.frames)
        rows = measure(Path(tmp), clip, args.frames, args.downsample)
    print(f"{width}x{args.height}, {args.frames} frames at 29.97/s, sizes per minute of video")
    print(f"{'format':>18} {'alpha mean /255':>16} {'max /255':>9} {'MiB/min':>9}")
    for r in rows:
        print(f"{r['format']:>18} {r['mean']:>16.3f} {r['max']:>9} {r['mib_per_min']:>9.0f}")
    print(json.dumps({"size": f"{width}x{args.height}", "frames": args.frames, "rows": rows}))


if __name__ == "__main__":
    main()
