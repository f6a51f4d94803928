"""How far float16 moves the alpha from float32, on the real sample clip.

    python bench/precision.py --frames 120 --downsample 0.25 0.5 1.0

Runs the model twice over the same frames with its recurrent state: once in float32, once in
fp16 (encoder and decoder in float16, refiner in float32). Prints the mean,
99.9th percentile and max of |alpha16 - alpha32| in 1/255 steps. On the CPU float16 is slow
and only shows the numerics; speed needs a GPU.
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
from bgrm.batches import Batch, batches_of  # noqa: E402
from bgrm.matting.session import MattingSession, matte_batches  # noqa: E402
from samples.fetch import fetch_samples  # noqa: E402


def alphas(model: bgrm.Model, batches: list[Batch], ratio: float) -> torch.Tensor:
    """float alpha [N, 1, H, W] of every frame, the recurrent state carried."""
    session = MattingSession(model, ratio)
    return torch.cat([matted.pha for matted in matte_batches(session, batches)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--downsample", type=float, nargs="+", default=[0.25, 0.5, 1.0])
    args = parser.parse_args()
    talk = fetch_samples(ROOT / "samples" / "media")["talk"]
    with av.open(str(talk)) as container:
        rgb = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    rgb = rgb[: args.frames]
    batches = batches_of(rgb, 8)
    model = bgrm.load_model("cpu")
    half = model.with_precision("fp16")
    rows = []
    for ratio in args.downsample:
        error = (alphas(half, batches, ratio) - alphas(model, batches, ratio)).abs().mul(255)
        flat = error.flatten()
        rows.append(
            {
                "downsample": ratio,
                "frames": len(rgb),
                "mean": flat.mean().item(),
                "p99.9": flat.kthvalue(int(flat.numel() * 0.999)).values.item(),
                "max": flat.max().item(),
            }
        )
        r = rows[-1]
        print(
            f"downsample {ratio}: |alpha16 - alpha32| in /255: mean {r['mean']:.3f}, "
            f"p99.9 {r['p99.9']:.3f}, max {r['max']:.3f}"
        )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
