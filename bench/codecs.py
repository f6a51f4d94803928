"""Size per minute and encoding speed of each composite codec at its default CRF, at 1080p.

    python bench/codecs.py --height 1080 --frames 60

Makes a clip from the real sample (looped, scaled to cover 16:9 at --height, no audio), decodes
it once, then encodes the same frames with bgrm's own writer for every `--codec` (h264 in .mp4,
hevc in .mp4, av1 in .webm, vp9 in .webm) and prints frames/s of the encoder alone and the size
extrapolated to one minute at 29.97 frames/s. The sample is soft and upscaled, so a sharp
camera's files are larger; the ratios between codecs are what this shows.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bgrm.media.decode import read_frames  # noqa: E402
from bgrm.media.formats import CODECS, composite_encoding  # noqa: E402
from bgrm.media.probe import probe  # noqa: E402
from bgrm.media.writer import FrameWriter  # noqa: E402
from bgrm_bench.process import make_clip  # noqa: E402
from samples.fetch import fetch_samples  # noqa: E402

FPS = 30000 / 1001
SUFFIX = {"h264": ".mp4", "hevc": ".mp4", "av1": ".webm", "vp9": ".webm"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--frames", type=int, default=60)
    args = parser.parse_args()
    width = args.height * 16 // 9 // 2 * 2
    talk = fetch_samples(ROOT / "samples" / "media")["talk"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bgrm-codecs-") as tmp:
        clip = Path(tmp) / "clip.mp4"
        make_clip(talk, clip, width, args.height, args.frames)
        info = probe(clip)
        frames = [(frame.rgb.copy(), frame.pts) for frame in read_frames(clip)]
        for codec in CODECS:
            target = Path(tmp) / f"{codec}{SUFFIX[codec]}"
            started = time.perf_counter()
            with FrameWriter(target, info, composite_encoding(target, codec)) as writer:
                for rgb, pts in frames:
                    writer.write(rgb, pts)
            seconds = time.perf_counter() - started
            mib = target.stat().st_size / len(frames) * FPS * 60 / 2**20
            rows.append(
                {
                    "codec": codec,
                    "crf": CODECS[codec].crf,
                    "fps": len(frames) / seconds,
                    "mib_per_min": mib,
                }
            )
            row = rows[-1]
            print(
                f"{codec:>5} CRF {row['crf']:>2}: {row['fps']:6.1f} frames/s, {mib:6.1f} MiB/min",
                flush=True,
            )
    print(json.dumps({"size": f"{width}x{args.height}", "frames": args.frames, "rows": rows}))


if __name__ == "__main__":
    main()
