"""The full-resolution tail, eager against fused, per background kind and output, at one size.

    python bench/tail.py --height 1080 --frames 16              # a fresh compile cache: cold
    python bench/tail.py --height 1080 --cache /tmp/tail-cache  # run twice: the second is warm
    python bench/tail.py --frames 120 --end-to-end              # and whole jobs, eager and fused

The model runs once over real frames (the bundled talk clip scaled to the size) to give the
refiner's coefficients, in the batches bgrm process uses, with its allocator settings; then
each kind is timed over the same batches, eager (the reference:
refine, background, composite, uint8) and fused (bgrm/finish/fused.py), in ms per frame, with the
largest difference between the two in uint8 levels. The fused path's first call (its compile,
or its load from the cache) is reported apart and not counted in the per-frame time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

import bgrm  # noqa: E402
from bgrm.backgrounds import open_background, parse_background  # noqa: E402
from bgrm.batches import decode_batches  # noqa: E402
from bgrm.finish import finish  # noqa: E402
from bgrm.finish.fused import FusedTail  # noqa: E402
from bgrm.matting.session import Matted, MattingSession, matte_batches  # noqa: E402
from bgrm.media.decode import DecodeReport  # noqa: E402
from bgrm.media.probe import probe  # noqa: E402
from bgrm.resources import default_batch, keep_freed_memory  # noqa: E402
from bgrm_bench.process import make_clip  # noqa: E402
from bgrm_bench.stages import synthetic_clip  # noqa: E402
from samples.fetch import fetch_samples  # noqa: E402


def kinds(folder: Path, height: int, width: int) -> dict[str, tuple[str, set[str], float | None]]:
    """Each case: (background spec, outputs, light wrap)."""
    image = folder / "beach.png"
    ys, xs = np.mgrid[0:720, 0:1280]
    Image.fromarray(np.stack([xs % 256, ys % 256, (xs + ys) % 256], -1).astype(np.uint8)).save(
        image
    )
    video = synthetic_clip(folder / "waves.mp4", 640, 360, 30)
    return {
        "colour": ("#00ff00", {"rgb"}, None),
        "image": (str(image), {"rgb"}, None),
        "video": (str(video), {"rgb"}, None),
        "grayscale": ("grayscale", {"rgb"}, None),
        "blur": ("blur", {"rgb"}, None),
        "light wrap (image)": (str(image), {"rgb"}, 0.5),
        "rgba (alpha outputs)": ("#000000", {"rgba"}, None),
        "matte": ("#000000", {"matte"}, None),
    }


def run_case(
    matted: list[Matted],
    spec: str,
    needs: set[str],
    light: float | None,
    tail,
    device,
    size,
    time_base,
) -> tuple[list[float], dict[str, np.ndarray]]:
    """ms per frame of every batch, and the outputs of the first batch."""
    height, width = size
    background = open_background(parse_background(spec), height, width, device)
    costs, first = [], {}
    try:
        for index, item in enumerate(matted):
            fresh = Matted(item.batch, item.src, item.a, item.b)  # nothing refined yet
            seconds = [float(p * time_base) for p in item.batch.pts]
            started = time.perf_counter()
            host = finish(fresh, needs, background, seconds, light, tail)
            costs.append((time.perf_counter() - started) * 1000 / len(item.batch.pts))
            if index == 0:
                first = {need: getattr(host, need) for need in needs}
    finally:
        background.close()
    return costs, first


def end_to_end(clip: Path, output: Path, downsample: float, model: bgrm.Model) -> None:
    """Wall-clock seconds of whole jobs, eager and fused, alternating; printed as they end."""
    for mode in ("off", "on", "on", "off"):
        started = time.perf_counter()
        result = bgrm.process(
            clip,
            output,
            background="#00ff00",
            downsample=downsample,
            overwrite=True,
            compile=mode,
            model=model,
        )
        seconds = time.perf_counter() - started
        print(f"end to end, compile {mode}: {seconds:.1f} s, {result.frames / seconds:.2f} fps")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--downsample", type=float, default=0.25)
    parser.add_argument("--cache", type=Path, help="compile cache (default: a fresh one, cold)")
    parser.add_argument(
        "--end-to-end",
        action="store_true",
        help="then run bgrm.process over the clip (green background) with compile off, on "
        "(paying its compile or cache load), on (compiled already) and off, in one process",
    )
    args = parser.parse_args()
    width = args.height * 16 // 9 // 2 * 2
    with tempfile.TemporaryDirectory(prefix="bgrm-tail-") as tmp:
        folder = Path(tmp)
        cache = args.cache or folder / "cache"
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(cache / "inductor")
        talk = fetch_samples(ROOT / "samples" / "media")["talk"]
        clip = folder / "clip.mp4"
        make_clip(talk, clip, width, args.height, args.frames)
        info = probe(clip)
        model = bgrm.load_model("cpu")
        session = MattingSession(model, args.downsample)
        keep_freed_memory()  # as bgrm process does: no page faults for freed frame buffers
        batch = default_batch(model.device, args.height, width)
        with torch.inference_mode():
            batches = list(decode_batches(info, batch, DecodeReport()))
            matted = list(matte_batches(session, batches))
            tail = FusedTail(cache, args.height, width)
            warm = tail.warm
            rows = {}
            for name, (spec, needs, light) in kinds(folder, args.height, width).items():
                size = (args.height, width)
                eager, reference = run_case(
                    matted, spec, needs, light, None, model.device, size, info.time_base
                )
                fused, result = run_case(
                    matted, spec, needs, light, tail, model.device, size, info.time_base
                )
                if tail.failed:
                    sys.exit("the fused tail could not be compiled here (no C compiler?)")
                worst = max(
                    int(np.abs(result[n].astype(int) - reference[n].astype(int)).max())
                    for n in needs
                )
                rows[name] = {
                    "eager_ms": statistics.median(eager[1:] or eager),
                    "fused_ms": statistics.median(fused[1:]),
                    "fused_first_call_s": fused[0] * len(batches[0].pts) / 1000,
                    "max_diff_levels": worst,
                }
        if args.end_to_end:
            end_to_end(clip, folder / "out.mp4", args.downsample, model)
    print(
        f"{width}x{args.height}, downsample {args.downsample}, batches of {batch}, "
        f"{torch.get_num_threads()} threads, compile cache {'warm' if warm else 'cold'}"
    )
    print(
        f"{'kind':<22} {'eager ms':>9} {'fused ms':>9} {'speed-up':>9} "
        f"{'1st call s':>11} {'diff':>5}"
    )
    for name, row in rows.items():
        print(
            f"{name:<22} {row['eager_ms']:>9.1f} {row['fused_ms']:>9.1f} "
            f"{row['eager_ms'] / row['fused_ms']:>8.2f}x {row['fused_first_call_s']:>11.1f} "
            f"{row['max_diff_levels']:>5}"
        )
    print(json.dumps({"size": [width, args.height], "warm": warm, "kinds": rows}))


if __name__ == "__main__":
    main()
