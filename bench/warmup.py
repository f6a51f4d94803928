"""What a warm-up costs and whether a cold one reaches the single pass: RVM's state, measured.

    python bench/warmup.py --recordings talk-704x576 --starts 2 8 --seconds 24 --threads 1
    python bench/warmup.py --cost --recordings talk-704x576 talk-1280x720 --threads 1

Convergence (the default): the model is started cold at each of ``--starts`` (seconds) on a
bench/seam.py recording and followed to its end against the single pass. Per start it prints
when the matte last failed the seam bar (far > 0.1% or mean > 1/255, as in bench/seam.py) and
when it last differed by more than 2/255 anywhere: a cold warm-up of at least that long is what
a part would need, if the run ever settles at all.

Cost (``--cost``): CPU seconds per frame (the process's, all threads; one torch thread) of
the full work of a job at default settings (decode, model, full-resolution finish, encode:
``bgrm.process`` with the blurred room), of a warm-up frame as a part runs it (decode and the
model to its coefficients, nothing after), and of RVM's recurrent core alone (encoder,
LR-ASPP, decoder at the downsampled size). Each is timed in turn, the least of the rounds kept.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bgrm  # noqa: E402
from bench.seam import AGREE, FAR, FAR_SHARE, MEAN, RATE, RECORDINGS, mattes, single_pass  # noqa: E402
from bgrm.batches import decode_batches  # noqa: E402
from bgrm.matting.session import MattingSession, matte_batches  # noqa: E402
from bgrm.media.decode import DecodeReport  # noqa: E402
from bgrm.media.probe import probe  # noqa: E402
from samples.fetch import fetch_samples  # noqa: E402


def convergence(model, frame, ratio, reference, start: int, end: int) -> dict:
    """A cold start at frame ``start`` followed to ``end`` against the single pass."""
    last_bad = last_off = None
    for index, alpha in enumerate(mattes(model, frame, ratio, start, end), start=start):
        diff = np.abs(alpha.astype(np.int16) - reference[index])
        far = float((diff > FAR).mean())
        if far > FAR_SHARE or float(diff.mean()) > MEAN:
            last_bad = index
        if int(diff.max()) > AGREE:
            last_off = index
    return {
        "start_s": start / RATE,
        "followed_s": (end - start) / RATE,
        "last_bad_after_s": None if last_bad is None else (last_bad + 1 - start) / RATE,
        "last_off_after_s": None if last_off is None else (last_off + 1 - start) / RATE,
    }


def write_clip(frame, count: int, path: Path) -> None:
    """The recording's first ``count`` frames as an H.264 file (yuv420p, CRF 18)."""
    with av.open(str(path), "w") as container:
        first = frame(0)
        stream = container.add_stream("libx264", rate=Fraction(30000, 1001))
        stream.width, stream.height = first.shape[1], first.shape[0]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        for index in range(count):
            video = av.VideoFrame.from_ndarray(frame(index), format="rgb24")
            for packet in stream.encode(video):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def cost(model, frame, recording, count: int, rounds: int) -> dict:
    """CPU seconds per frame (the process's, all its threads) of the full job, a warm-up
    frame and the core alone: each timed ``rounds`` times in turn, the least kept (the
    machine is shared)."""
    times: dict[str, list[float]] = {"full_s": [], "warmup_s": [], "core_s": []}
    with tempfile.TemporaryDirectory(prefix="bgrm-warmup-") as scratch:
        clip = Path(scratch) / "clip.mp4"
        write_clip(frame, count, clip)
        info = probe(clip)
        ratio = bgrm.Job(str(clip)).downsample_ratio(recording.height, recording.width)
        small = _small_batches(frame, count, ratio)
        for _ in range(rounds):
            started = time.process_time()
            bgrm.process(clip, Path(scratch) / "out.mp4", model=model, overwrite=True)
            times["full_s"].append((time.process_time() - started) / count)
            session = MattingSession(model, ratio)
            started = time.process_time()
            for _ in matte_batches(session, decode_batches(info, 8, DecodeReport())):
                pass
            times["warmup_s"].append((time.process_time() - started) / count)
            started = time.process_time()
            _core(model.network, small)
            times["core_s"].append((time.process_time() - started) / (8 * len(small)))
    row = {name: min(values) for name, values in times.items()}
    row.update(
        recording=recording.name,
        ratio=round(ratio, 4),
        warmup_share=row["warmup_s"] / row["full_s"],
        core_share=row["core_s"] / row["full_s"],
    )
    return row


def _small_batches(frame, count: int, ratio: float) -> list[torch.Tensor]:
    """The frames as the network's core sees them, in batches of 8: float [8, 3, h, w]."""
    return [
        F.interpolate(
            torch.from_numpy(np.stack([frame(i) for i in range(s, s + 8)]))
            .permute(0, 3, 1, 2)
            .float()
            / 255,
            scale_factor=ratio,
            mode="bilinear",
            align_corners=False,
            recompute_scale_factor=False,
        )
        for s in range(0, count - 7, 8)
    ]


def _core(network, small: list[torch.Tensor]) -> None:
    """RVM's recurrent core (encoder, LR-ASPP, decoder) over ``small`` in order."""
    states = (None, None, None, None)
    with torch.inference_mode():
        for core in small:
            f1, f2, f3, f4 = network.backbone(core)
            _, states = network.decoder(core, f1, f2, f3, network.aspp(f4), 1, states)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recordings", nargs="+", default=["talk-704x576", "talk-1280x720"])
    parser.add_argument("--model", default="rvm")
    parser.add_argument("--downsample", default="auto")
    parser.add_argument("--starts", type=float, nargs="+", default=[2.0, 8.0])
    parser.add_argument("--seconds", type=float, default=24.0, help="length of each recording")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--cost", action="store_true", help="time the work instead")
    parser.add_argument("--frames", type=int, default=64, help="frames timed with --cost")
    parser.add_argument("--rounds", type=int, default=2, help="times each is timed (--cost)")
    args = parser.parse_args()
    talk = fetch_samples(ROOT / "samples" / "media")["talk"]
    with av.open(str(talk)) as container:
        source = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    torch.set_grad_enabled(False)
    if args.threads:
        torch.set_num_threads(args.threads)
    model = bgrm.load_model("cpu", model=args.model)
    count = round(args.seconds * RATE)
    rows = []
    for recording in (RECORDINGS[r] for r in args.recordings):
        frame = recording.frames(source, count)
        if args.cost:
            row = cost(model, frame, recording, args.frames, args.rounds)
            print(
                f"{recording.name}: full {row['full_s'] * 1000:.0f} ms/frame, warm-up frame "
                f"{row['warmup_s'] * 1000:.0f} ms ({row['warmup_share']:.0%}), core alone "
                f"{row['core_s'] * 1000:.0f} ms ({row['core_share']:.0%})",
                flush=True,
            )
            rows.append(row)
            continue
        ratio = bgrm.Job("in.mp4", downsample=args.downsample).downsample_ratio(
            recording.height, recording.width
        )
        reference = single_pass(model, frame, ratio, count, recording, args.model)
        for start in args.starts:
            row = convergence(model, frame, ratio, reference, round(start * RATE), count)
            row.update(recording=recording.name, ratio=round(ratio, 4))
            print(
                f"{recording.name} ({ratio:.3f}) cold at {row['start_s']:.1f} s, followed "
                f"{row['followed_s']:.1f} s: last bad frame after {row['last_bad_after_s']} s, "
                f"last off by > {AGREE}/255 after {row['last_off_after_s']} s",
                flush=True,
            )
            rows.append(row)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
