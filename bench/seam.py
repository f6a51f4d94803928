"""What a seam costs: a part that starts cold, or after a pre-roll, against one single pass.

    python bench/seam.py --preroll 0 8 16 32 48 64 96 --downsample 1.0 0.5 0.25

A split job (`bgrm submit --split`) runs each part's model from a pre-roll before its first
frame, so that the recurrent state (RVM's temporal memory) has settled by then. This measures,
on a real recording (the sample clip played forwards and backwards to 480 frames, so there is
no jump cut), how far the matte of a part's frames is from the single pass's, for every
pre-roll and several cut points: the worst frame's mean and the largest pixel difference of
the part's first second, in 1/255 of the uint8 matte.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import av
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bgrm  # noqa: E402
from bgrm.batches import batches_of  # noqa: E402
from bgrm.composite import matte_to_uint8  # noqa: E402
from bgrm.matting.session import MattingSession, matte_batches  # noqa: E402
from samples.fetch import fetch_samples  # noqa: E402

SECOND = 30  # frames of the part compared: its first second


def mattes(model: bgrm.Model, rgb: np.ndarray, ratio: float) -> np.ndarray:
    """uint8 [N, H, W] alpha of consecutive frames, state carried from the first."""
    session = MattingSession(model, ratio)
    return np.concatenate(
        [matte_to_uint8(m.pha).numpy() for m in matte_batches(session, batches_of(rgb, 8))]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preroll", type=int, nargs="+", default=[0, 8, 16, 24, 32, 48, 64, 96])
    parser.add_argument("--downsample", type=float, nargs="+", default=[1.0, 0.5, 0.25])
    parser.add_argument("--cuts", type=int, nargs="+", default=[100, 170, 230, 300, 370])
    args = parser.parse_args()
    talk = fetch_samples(ROOT / "samples" / "media")["talk"]
    with av.open(str(talk)) as container:
        forwards = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    rgb = np.concatenate([forwards, forwards[-2:0:-1]] * 2)  # 476 frames, no jump cut
    model = bgrm.load_model("cpu")
    torch.set_grad_enabled(False)
    rows = []
    for ratio in args.downsample:
        whole = mattes(model, rgb, ratio)
        for preroll in args.preroll:
            worst_frame, worst_pixel, means = 0.0, 0, []
            for cut in args.cuts:
                part = mattes(model, rgb[cut - preroll : cut + SECOND], ratio)[preroll:]
                diff = np.abs(part.astype(int) - whole[cut : cut + SECOND])
                worst_frame = max(worst_frame, float(diff.mean(axis=(1, 2)).max()))
                worst_pixel = max(worst_pixel, int(diff.max()))
                means.append(float(diff.mean()))
            row = {
                "downsample": ratio,
                "preroll_frames": preroll,
                "mean": float(np.mean(means)),
                "worst_frame_mean": worst_frame,
                "max": worst_pixel,
            }
            rows.append(row)
            print(
                f"downsample {ratio}: pre-roll {preroll:3d} frames: mean {row['mean']:.3f}, "
                f"worst frame {worst_frame:.3f}, max {worst_pixel} (1/255)",
                flush=True,
            )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
