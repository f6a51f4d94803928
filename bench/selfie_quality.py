"""The selfie model against RVM on real clips: agreement, flicker, and time per 1080p frame.

    python bench/selfie_quality.py [--frames 120] [--threads 2] [--json out.json]
        [--picture docs/selfie-vs-rvm.png]

For each clip (the talking-head sample, the street sample with cyclists, and the sample
stretched to 1920x1080), both models run over the same frames with their state carried, at
bgrm's automatic downsample ratio (min(1, 512 / long side)). Printed per clip: agreement (IoU
of alpha > 127, mean |difference| in 1/255) of the selfie matte against RVM's, and the flicker
of each on the same still pixels (bgrm_bench/matte_quality.py), with their ratio. At 1080p RVM
(downsampled to 512x288) loses the sitter's shoulder on this clip, so the 1080p selfie matte is
also judged against RVM's matte of the clip at its own size, upscaled. Then the time
per 1080p frame of each model's low-resolution stage (``MattingSession.coefficients``, the
network) and of that stage plus the full-resolution guided filter (``refine``), in one run.
--picture writes the middle 1080p frame beside both models' mattes (docs/selfie-vs-rvm.png).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bgrm  # noqa: E402
from bgrm.batches import batches_of  # noqa: E402
from bgrm.composite import from_uint8_hwc, matte_to_uint8  # noqa: E402
from bgrm.matting.refiner import DeepGuidedFilterRefiner  # noqa: E402
from bgrm.matting.session import MattingSession, matte_batches  # noqa: E402
from bgrm_bench.matte_quality import agreement, flicker  # noqa: E402
from samples.fetch import fetch_samples  # noqa: E402

HD = (1080, 1920)
BATCH = 4


def read_frames(path: Path, count: int, size: tuple[int, int] | None = None) -> np.ndarray:
    """The first ``count`` frames, uint8 [T, H, W, 3], scaled to ``size`` (h, w) if given."""
    scale = {} if size is None else {"height": size[0], "width": size[1]}
    with av.open(str(path)) as container:
        frames = []
        for frame in container.decode(video=0):
            if len(frames) == count:
                break
            frames.append(frame.to_ndarray(format="rgb24", **scale))
    return np.stack(frames)


def ratio_for(rgb: np.ndarray) -> float:
    return min(1.0, 512 / max(rgb.shape[1:3]))


def mattes(model: bgrm.Model, rgb: np.ndarray) -> np.ndarray:
    """uint8 [T, H, W] alpha of consecutive frames, state carried from the first."""
    session = MattingSession(model, ratio_for(rgb))
    return np.concatenate(
        [matte_to_uint8(m.pha).numpy() for m in matte_batches(session, batches_of(rgb, BATCH))]
    )


def quality(name: str, rgb: np.ndarray, selfie: np.ndarray, rvm: np.ndarray) -> dict:
    """The selfie matte against RVM's on ``rgb`` (both uint8 [T, H, W])."""
    iou, difference = agreement(selfie, rvm)
    selfie_flicker, rvm_flicker = flicker(selfie, rvm, rgb)
    return {
        "clip": name,
        "frames": len(rgb),
        "size": f"{rgb.shape[2]}x{rgb.shape[1]}",
        "iou": round(iou, 4),
        "mean_diff": round(difference, 2),
        "flicker_selfie": round(selfie_flicker, 3),
        "flicker_rvm": round(rvm_flicker, 3),
        "flicker_ratio": round(selfie_flicker / rvm_flicker, 2) if rvm_flicker else None,
    }


def both(models: dict[str, bgrm.Model], rgb: np.ndarray) -> dict[str, np.ndarray]:
    """Each model's matte of ``rgb``, by name."""
    return {name: mattes(model, rgb) for name, model in models.items()}


def picture(path: Path, rgb: np.ndarray, by_model: dict[str, np.ndarray], width: int = 640):
    """One frame side by side, each panel ``width`` wide: the frame, RVM's matte, the selfie
    model's, with their names."""
    panels = [("frame", rgb)] + [
        (f"--model {name}", np.repeat(matte[..., None], 3, axis=2))
        for name, matte in by_model.items()
    ]
    height = round(rgb.shape[0] * width / rgb.shape[1])
    sheet = Image.new("RGB", (width * len(panels), height + 24), "white")
    draw = ImageDraw.Draw(sheet)
    for index, (label, pixels) in enumerate(panels):
        panel = Image.fromarray(pixels).resize((width, height), Image.Resampling.BILINEAR)
        sheet.paste(panel, (index * width, 24))
        draw.text((index * width + 8, 6), label, fill="black")
    sheet.save(path)


def time_per_frame(model: bgrm.Model, rgb: np.ndarray, repeats: int) -> tuple[float, float]:
    """Median ms per frame of the model's stage, and of the model plus the full-resolution
    guided filter, over batches of BATCH frames (after one warm-up batch)."""
    session = MattingSession(model, ratio_for(rgb))
    src = from_uint8_hwc(torch.from_numpy(rgb[:BATCH]))
    session.coefficients(src)
    model_only, with_refine = [], []
    with torch.inference_mode():
        for _ in range(repeats):
            start = time.perf_counter()
            a, b = session.coefficients(src)
            middle = time.perf_counter()
            DeepGuidedFilterRefiner.refine(a, b, src)
            end = time.perf_counter()
            model_only.append((middle - start) / BATCH * 1000)
            with_refine.append((end - start) / BATCH * 1000)
    return float(np.median(model_only)), float(np.median(with_refine))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--repeats", type=int, default=5, help="timed batches per model")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--picture", type=Path, help="a PNG of one 1080p frame and both mattes")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    samples = fetch_samples(ROOT / "samples" / "media")
    models = {name: bgrm.load_model("cpu", model=name) for name in ("rvm", "selfie")}

    talk = read_frames(samples["talk"], args.frames)
    hd = read_frames(samples["talk"], args.frames, HD)
    bikes = read_frames(samples["bikes"], 2 * args.frames)
    talk_mattes, hd_mattes, bike_mattes = both(models, talk), both(models, hd), both(models, bikes)
    native = torch.from_numpy(talk_mattes["rvm"]).unsqueeze(1).float()
    upscaled = F.interpolate(native, size=HD, mode="bilinear", align_corners=False)
    upscaled = upscaled.round().clamp(0, 255).to(torch.uint8)[:, 0].numpy()
    rows = [
        quality("talk", talk, talk_mattes["selfie"], talk_mattes["rvm"]),
        quality("bikes", bikes, bike_mattes["selfie"], bike_mattes["rvm"]),
        quality("talk at 1080p", hd, hd_mattes["selfie"], hd_mattes["rvm"]),
        quality("  vs RVM native, upscaled", hd, hd_mattes["selfie"], upscaled),
    ]
    if args.picture:
        middle = len(hd) // 2
        picture(args.picture, hd[middle], {k: v[middle] for k, v in hd_mattes.items()})
    print(
        "clip                       size       frames  IoU     |diff|  flicker selfie / RVM  ratio"
    )
    for row in rows:
        print(
            f"{row['clip']:26s} {row['size']:10s} {row['frames']:6d}  {row['iou']:.4f}  "
            f"{row['mean_diff']:5.2f}   {row['flicker_selfie']:6.3f} / {row['flicker_rvm']:6.3f}"
            f"       {row['flicker_ratio']}"
        )

    timing = {name: time_per_frame(model, hd, args.repeats) for name, model in models.items()}
    print(f"\n1080p, {args.threads} threads, ms per frame (batches of {BATCH}):")
    print("model    network   network + full-resolution refine")
    for name, (network, total) in timing.items():
        print(f"{name:8s} {network:7.1f}   {total:7.1f}")
    speedup = timing["rvm"][0] / timing["selfie"][0]
    speedup_total = timing["rvm"][1] / timing["selfie"][1]
    print(f"selfie is {speedup:.1f}x faster (network), {speedup_total:.1f}x (with refine)")
    if args.json:
        args.json.write_text(json.dumps({"quality": rows, "ms_per_frame": timing}, indent=2))


if __name__ == "__main__":
    main()
