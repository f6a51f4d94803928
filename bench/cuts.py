"""Cuts and shots without a person: what the detector costs, and how often it is wrong.

    python bench/cuts.py                      # the sample upscaled to 1280x720, both models
    python bench/cuts.py --size 1920x1080 --frames 16

1. Cost, in one run: ms per frame of the cut detector (its small frames, their hue, saturation
   and value, the score against the frame before) and of each model's own work on the same
   frames (its coefficients: what runs per frame before the full-resolution tail).
2. False cuts on talking heads (want none): the sample, looped forward 4 times (a jump at each
   loop, not a cut), and played forwards and backwards 4 times.
3. A real edited recording: the cuts found in bikes.mp4 against the five seen by eye.
4. The matte's coverage (mean alpha, the share of the frame) per shot and the verdict, on
   made recordings (camera -> slide -> camera; a person walking out of one shot) and bikes.mp4.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bgrm.threads import fit_threads  # noqa: E402

THREADS = fit_threads()  # before torch loads: on a busy machine idle threads sleep, not spin

import torch  # noqa: E402

import bgrm  # noqa: E402
from bgrm.batches import batches_of  # noqa: E402
from bgrm.composite import from_uint8_hwc  # noqa: E402
from bgrm.cuts import CutDetector, detector_frames  # noqa: E402
from bgrm.matting.session import MattingSession, matte_batches  # noqa: E402
from bgrm.shots import PERSON, judged  # noqa: E402
from bgrm_bench.harness import rate  # noqa: E402
from tests.media import sample_clips, slide_frame, video_frames, walk_out_frames  # noqa: E402

STREET = 150
"""A frame of bikes.mp4 without a person: a street behind a railing."""

BIKES_CUTS = [30, 76, 137, 187, 242]
"""The frames of bikes.mp4 that start a shot, as seen by eye (a car passing close at 101 is
not one)."""


def cost(size: tuple[int, int], frames: int, batch: int) -> None:
    """ms per frame of the detector and of each model, same frames, same run."""
    _, talk = video_frames(sample_clips()["talk"])
    src = torch.nn.functional.interpolate(
        from_uint8_hwc(torch.from_numpy(talk[:frames])), size=size[::-1], mode="bilinear"
    )
    ratio = min(1.0, 512 / max(size))
    print(f"cost at {size[0]}x{size[1]} (downsample {ratio:g}), {frames} frames, batch {batch}")
    chunks = src.split(batch)
    for name in ("rvm", "selfie"):
        session = MattingSession(bgrm.load_model("cpu", model=name), ratio)
        with torch.inference_mode():
            session.coefficients(chunks[0])  # warm
            model = rate(frames, lambda s=session: [s.coefficients(c) for c in chunks], src.device)
            detect = rate(frames, lambda s=session: _detect(s, chunks), src.device)
        print(
            f"  {name:6s} model {1000 / model:8.2f} ms/frame   detector {1000 / detect:6.2f} "
            f"ms/frame   detector/model {model / detect:6.3f}"
        )


def _detect(session: MattingSession, chunks: tuple[torch.Tensor, ...]) -> None:
    """What the pipeline adds per batch to find cuts: the small frames, the detector."""
    for chunk in chunks:
        session.cuts.starts(detector_frames(chunk))


def false_cuts() -> None:
    """Shots found on talking heads, and in bikes.mp4."""
    _, talk = video_frames(sample_clips()["talk"])
    clips = {
        "sample (120 frames)": talk,
        "looped forward 4x": np.concatenate([talk] * 4),
        "forwards and backwards 4x": np.concatenate([talk, talk[::-1]] * 2),
    }
    for name, frames in clips.items():
        starts = _starts(frames)
        print(f"  {name:28s} cuts {len(starts) - 1} (want 0) {starts[1:]}")
    _, bikes = video_frames(sample_clips()["bikes"])
    starts = _starts(bikes)[1:]
    missed = sorted(set(BIKES_CUTS) - set(starts))
    false = sorted(set(starts) - set(BIKES_CUTS))
    print(f"  bikes.mp4 cuts found {starts}; missed {missed}; false {false}")


def _starts(frames: np.ndarray) -> list[int]:
    detector = CutDetector()
    found = []
    for batch in batches_of(frames, 16):
        src = from_uint8_hwc(torch.from_numpy(np.ascontiguousarray(batch.rgb)))
        found += [batch.pts[0] + index for index in detector.starts(detector_frames(src))]
    return found


def coverage(model_name: str) -> None:
    """Mean coverage per shot and the verdict (screens keep), on made and real recordings."""
    model = bgrm.load_model("cpu", model=model_name)
    clips = sample_clips()
    _, talk = video_frames(clips["talk"])
    height, width = talk.shape[1:3]
    slide = np.stack([slide_frame(width, height)] * 45)
    first = next(iter(bgrm.mattes(clips["talk"], model=model)))
    room = np.asarray(
        Image.fromarray(video_frames(clips["bikes"])[1][STREET]).resize((width, height))
    )
    recordings = {
        "camera -> slide -> camera": np.concatenate([talk[:45], slide, talk[45:90]]),
        "a person walks out of one shot": np.stack(walk_out_frames(first.image, first.alpha, room)),
        "bikes.mp4": video_frames(clips["bikes"])[1],
    }
    print(f"  {model_name}: coverage per shot (person from {PERSON:g}), first 30 frames | all")
    for name, frames in recordings.items():
        ratio = min(1.0, 512 / max(frames.shape[1:3]))
        session = MattingSession(model, ratio)
        shots: list[list] = []
        with torch.inference_mode():
            stream = judged(matte_batches(session, batches_of(frames, 8)), "keep", 30)
            for matted, passed in stream:
                if matted.new_shot:
                    shots.append([matted.batch.pts[0], [], passed])
                shots[-1][1] += matted.coverage
        print(f"   {name}")
        for start, covered, passed in shots:
            verdict = "passed through" if passed else "replaced"
            print(
                f"     from frame {start:4d}: {np.mean(covered[:30]):.4f} | "
                f"{np.mean(covered):.4f}  ({len(covered)} frames) {verdict}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1280x720", help="WxH of the timed frames")
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    print(f"torch threads: {THREADS.describe()}")
    cost((width, height), args.frames, args.batch)
    print("false cuts")
    false_cuts()
    print("coverage")
    for name in ("rvm", "selfie"):
        coverage(name)


if __name__ == "__main__":
    main()
