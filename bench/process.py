"""Throughput and peak memory of `bgrm process` on a real clip scaled to a given size.

    python bench/process.py --height 1080 --downsample 0.25 --frames 120 480

For each frame count, makes a clip from the real sample (looped, scaled to cover 16:9 at
--height), runs the job on it in a child process (bgrm_bench.harness.measure_process) and
prints frames/s (as bgrm reports it, and wall-clock including start-up) and the child's peak
RSS. Two or more frame counts show whether memory stays flat as the video gets longer.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import asdict
from fractions import Fraction
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bgrm  # noqa: E402
from bgrm_bench.harness import measure_process  # noqa: E402
from samples.fetch import fetch_samples  # noqa: E402


def make_clip(
    source: Path, target: Path, width: int, height: int, frames: int, audio_from: Path | None = None
) -> None:
    """Loop ``source`` to ``frames`` frames, scaled to width x height, H.264 at 30000/1001;
    with ``audio_from``, its first audio track is copied in too."""
    with av.open(str(source)) as inp:
        still = [
            f.reformat(width=width, height=height, format="yuv420p") for f in inp.decode(video=0)
        ]
    with av.open(str(target), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(30000, 1001))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "18"}
        audio_in = av.open(str(audio_from)) if audio_from is not None else None
        audio = audio_in and out.add_stream_from_template(audio_in.streams.audio[0])
        for i in range(frames):
            frame = still[i % len(still)]
            frame.pts = i
            frame.time_base = Fraction(1001, 30000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
        if audio_in is not None:
            for packet in audio_in.demux(audio_in.streams.audio[0]):
                if packet.dts is not None:
                    packet.stream = audio
                    out.mux(packet)
            audio_in.close()


def run_once(clip: Path, args: argparse.Namespace) -> dict:
    job = bgrm.Job(
        input=str(clip),
        output=str(clip.with_name(clip.stem + ".out.mp4")),
        background=args.bg,
        downsample=args.downsample,
        batch=args.batch,
        device=args.device,
        overwrite=True,
    )
    return asdict(measure_process(job))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--downsample", default="0.25")
    parser.add_argument("--frames", type=int, nargs="+", default=[120])
    parser.add_argument("--bg", default="#1e1e1e")
    parser.add_argument("--batch", type=int)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    width = args.height * 16 // 9 // 2 * 2
    talk = fetch_samples(ROOT / "samples" / "media")["talk"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bgrm-bench-") as tmp:
        for frames in args.frames:
            clip = Path(tmp) / f"clip_{frames}.mp4"
            make_clip(talk, clip, width, args.height, frames)
            rows.append({"size": f"{width}x{args.height}", **run_once(clip, args)})
            clip.unlink()
    rows.sort(key=lambda r: r["frames"])
    print(f"{'size':>10} {'frames':>7} {'fps':>7} {'wall fps':>9} {'peak RSS MiB':>13}")
    for r in rows:
        print(
            f"{r['size']:>10} {r['frames']:>7} {r['fps']:>7.2f} {r['wall_fps']:>9.2f} "
            f"{r['peak_rss_mib']:>13.0f}"
        )
    if len(rows) > 1:
        ratio = rows[-1]["peak_rss_mib"] / rows[0]["peak_rss_mib"]
        print(f"peak RSS, longest / shortest: {ratio:.2f}")
    print(json.dumps({"downsample": args.downsample, "bg": args.bg, "runs": rows}))


if __name__ == "__main__":
    main()
