"""The pixel path at 1080p: CPU ms a frame of each stage, both models, and whole jobs as ratios.

    python bench/pixelpath.py --height 1080 --frames 24           # the stage table
    python bench/pixelpath.py --frames 120 --end-to-end            # and whole jobs, alternating
    python bench/pixelpath.py --frames 24 --fidelity --no-stages   # planes against RGB, per bg

Stages (bgrm_bench.stages, as `bgrm bench` times them: decode, model input, model,
full-resolution step, encode), CPU ms a frame on one torch thread in this process over the
same frames of the real talking head (looped, scaled to 16:9), over a colour, in four columns:
RVM (the RGB path), the selfie model through the RGB path (the frames decoded to RGB, the
composite in float RGB, converted to YUV by the writer), through the planes eagerly, and
through the planes compiled (``compile="on"``, compiled before the timing); then the selfie
model over the blurred room, through RGB and through the planes. CPU time is process time, so
threads the codec starts count too.

--end-to-end: each model's job in a child process (bgrm_bench.harness: frames/s as bgrm
reports it, and wall clock with start-up) and a plain transcode of the same clip in this
process (decode + libx264 veryfast CRF 18, PyAV, threads as bgrm's), alternating; prints the
ratios the issue asks for (selfie / RVM, transcode / selfie, from bgrm's own frames/s).

--fidelity: each model's composite made in the planes against today's RGB composite of the
same coefficients, per background (colours, an image, the gray and the blurred room, a video:
the bikes sample, cropped and scaled to cover), shown in RGB (1/255): as each reaches the
encoder (today's converted as bgrm's writer converts it), and against today's as bgrm made
it, before that conversion ("made"); how far the matte moves with the input made from the
planes; the composite made all the planes' way; what RVM's clamp of its foreground changes.
--clip: a video as it is (e.g. samples/media/talk.mp4) instead of the 16:9 one.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import av  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402

import bgrm  # noqa: E402
from bgrm.backgrounds import open_background, parse_background  # noqa: E402
from bgrm.batches import decode_batches  # noqa: E402
from bgrm.finish import finish  # noqa: E402
from bgrm.finish.planes import PlanePath  # noqa: E402
from bgrm.matting.refiner import DeepGuidedFilterRefiner  # noqa: E402
from bgrm.matting.session import MattingSession, matte_batches  # noqa: E402
from bgrm.media.decode import DecodeReport  # noqa: E402
from bgrm.media.formats import X264_OPTIONS, Colour  # noqa: E402
from bgrm.media.probe import probe  # noqa: E402
from bgrm_bench.harness import ProcessRun, measure_process  # noqa: E402
from bgrm_bench.process import make_clip  # noqa: E402
from bgrm_bench.stages import MODELS, STAGES, job_stages  # noqa: E402
from samples.fetch import fetch_samples  # noqa: E402

COLOUR = "#00ff00"


def stage_table(clip: Path, count: int, tmp: Path) -> dict[str, dict[str, float]]:
    """CPU ms a frame of each stage (bgrm_bench.stages), by column: RVM (the RGB path), the
    selfie model through the RGB path, through the planes eager and compiled."""
    base = bgrm.Job(input=str(clip), background=COLOUR)
    columns = {
        "rvm": ("rvm", "auto", False),
        "selfie RGB": ("selfie", "off", True),
        "planes": ("selfie", "off", False),
        "compiled": ("selfie", "on", False),
        "RGB blur": ("selfie", "off", True),
        "planes blur": ("selfie", "off", False),
    }
    table = {}
    for column, (name, mode, rgb) in columns.items():
        room = "blur" if column.endswith("blur") else COLOUR
        job = dataclasses.replace(base, compile=mode, background=room)
        table[column], _ = job_stages(job, name, count, tmp, rgb=rgb)
    return table


def ratio_of(height: int, width: int) -> float:
    """The automatic downsample ratio (bgrm.Job's "auto")."""
    return min(1.0, 512 / max(height, width))


def fidelity(clip: Path, folder: Path, model: str, video: Path) -> dict[str, dict[str, float]]:
    """The composite in planes against today's RGB composite, per background, with the same
    coefficients (``model``'s, from today's input): each as the encoder gets it (the RGB one
    converted as bgrm's writer converts it), shown in RGB by FFmpeg, and ("made") against
    today's RGB as bgrm made it; today's own loss, the decoded frames through RGB and back;
    how far the matte moves with the model's input made from the planes (the alpha at full
    size, both from today's RGB frame), and the composite over #1e1e1e made all the planes'
    way; what the foreground's clamp to [0, 1] in RGB (which the planes cannot make) changes
    in today's composite (1/255: mean, p99.9, max, % over 8)."""
    info = probe(clip)
    colour, size = info.colour, (info.height, info.width)
    network = bgrm.load_model("cpu", model=model)
    session = MattingSession(network, ratio_of(*size))
    wanted = session.model_input(*size)
    rgb_batches = list(decode_batches(info, 4, DecodeReport(), model=wanted))
    plane_batches = list(decode_batches(info, 4, DecodeReport(), model=wanted, planes=True))
    image = folder / "stripes.png"
    ys, xs = np.mgrid[0:720, 0:1280]
    stripes = np.stack([xs % 256, ys % 256, (xs * 3 + ys) % 256], -1).astype(np.uint8)
    Image.fromarray(stripes).save(image)
    found: dict[str, list[np.ndarray]] = {}

    def add(name: str, diffs) -> None:
        found.setdefault(name, []).extend(np.asarray(d) for d in diffs)

    origin = info.start_pts or 0
    with torch.inference_mode():
        matted = list(matte_batches(session, rgb_batches))
        own = MattingSession(network, session.downsample_ratio)
        from_planes = own.plane_input(colour, *size)
        in_planes = list(matte_batches(own, plane_batches, from_planes))
        for item, kept in zip(matted, in_planes, strict=True):
            _, moved = DeepGuidedFilterRefiner.refine(kept.a, kept.b, item.src)
            add("matte, input", (moved - item.pha).abs().mul(255)[:, 0].numpy())
            if item.a.shape[1] > 1:
                raw = F.interpolate(item.b, size=size, mode="bilinear", align_corners=False)
                raw += F.interpolate(item.a, size=size, mode="bilinear") * torch.cat(
                    [item.src, item.src.mean(1, keepdim=True)], 1
                )
                unclamped = raw[:, :3] + item.src
                add("fgr clamp", ((unclamped - item.fgr) * item.pha).abs().mul(255).numpy())
        for spec in (COLOUR, "#1e1e1e", str(image), "grayscale", "blur", str(video)):
            parsed, cpu = parse_background(spec), torch.device("cpu")
            background, under = (open_background(parsed, *size, cpu) for _ in "ab")
            path = PlanePath.open(under, colour, *size)
            name = Path(spec).name
            for item, kept in zip(matted, in_planes, strict=True):
                times = [float((p - origin) * info.time_base) for p in item.batch.pts]
                rgb = finish(item, {"rgb"}, background, times, None, None).rgb
                planes = torch.from_numpy(kept.batch.planes)
                made = path.composite(item.a, item.b, planes, times).numpy()
                after = [shown(y, colour) for y in made]
                before = [shown(to_planes(x, colour), colour) for x in rgb]
                add(name, (np.abs(x - y) for x, y in zip(before, after, strict=True)))
                add(f"{name} made", (np.abs(x - y) for x, y in zip(rgb, after, strict=True)))
                if spec == "#1e1e1e":
                    alone = path.composite(kept.a, kept.b, planes, times)
                    seen = [shown(y, colour) for y in alone.numpy()]
                    add("#1e1e1e, all", (np.abs(x - y) for x, y in zip(before, seen, strict=True)))
                if spec == COLOUR:
                    back = (shown(to_planes(x, colour), colour) for x in item.batch.rgb)
                    add(
                        "RGB round trip",
                        (np.abs(x - y) for x, y in zip(back, item.batch.rgb, strict=True)),
                    )
            background.close()
            under.close()
    return {
        name: {
            "mean": float(np.mean(diffs)),
            "p99.9": float(np.percentile(np.stack(diffs), 99.9)),
            "max": float(np.max(diffs)),
            ">8": float(np.mean(np.stack(diffs) > 8) * 100),
        }
        for name, diffs in found.items()
    }


def to_planes(rgb: np.ndarray, colour: Colour) -> np.ndarray:
    """uint8 [H, W, 3] -> yuv420p planes as bgrm's writer converts RGB for the encoder."""
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    return frame.reformat(
        format="yuv420p", dst_colorspace=colour.sws_matrix, dst_color_range=colour.range
    ).to_ndarray()


def shown(planes: np.ndarray, colour: Colour) -> np.ndarray:
    """yuv420p planes -> int [H, W, 3] RGB as FFmpeg shows them."""
    frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
    rgb = frame.to_ndarray(
        format="rgb24", src_colorspace=colour.sws_matrix, src_color_range=colour.range
    )
    return rgb.astype(int)


def transcode(clip: Path, target: Path) -> None:
    """A plain transcode with bgrm's encoder settings (threads as bgrm's: codec default)."""
    with av.open(str(clip)) as inp, av.open(str(target), "w") as out:
        source = inp.streams.video[0]
        source.thread_type = "AUTO"
        stream = out.add_stream("libx264", rate=source.average_rate)
        stream.width, stream.height, stream.pix_fmt = source.width, source.height, "yuv420p"
        stream.options = {**X264_OPTIONS, "crf": "18"}
        for frame in inp.decode(source):
            frame.pict_type = av.video.frame.PictureType.NONE
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def seconds_of(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def end_to_end(clip: Path, frames: int, rounds: int, tmp: Path) -> dict[str, dict[str, float]]:
    """Frames/s of each model's job in a child process (as bgrm reports it, decode to the last
    frame written, and wall clock with start-up) and of the transcode (in this process);
    medians of the rounds, alternating."""
    runs: dict[str, list[ProcessRun]] = {name: [] for name in MODELS}
    plain: list[float] = []
    for _ in range(rounds):
        for name in MODELS:
            output = str(tmp / f"{name}.mp4")
            job = bgrm.Job(
                input=str(clip), output=output, background=COLOUR, model=name, overwrite=True
            )
            runs[name].append(measure_process(job))
        plain.append(frames / seconds_of(lambda: transcode(clip, tmp / "plain.mp4")))
    fps = {
        name: {
            "fps": statistics.median(run.fps for run in done),
            "wall_fps": statistics.median(run.wall_fps for run in done),
        }
        for name, done in runs.items()
    }
    return {**fps, "transcode": {"fps": statistics.median(plain)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--end-to-end", action="store_true")
    parser.add_argument("--fidelity", action="store_true")
    parser.add_argument("--no-stages", action="store_true", help="skip the stage table")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--clip", type=Path, help="this video as it is instead of the 16:9 one")
    args = parser.parse_args()
    talk = fetch_samples(ROOT / "samples" / "media")["talk"]
    width = args.height * 16 // 9 // 2 * 2
    report: dict[str, object] = {"cores": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="bgrm-pixelpath-") as folder:
        tmp = Path(folder)
        clip = args.clip or tmp / "clip.mp4"
        if args.clip is None:
            make_clip(talk, clip, width, args.height, args.frames, audio_from=talk)
        shape = probe(clip)
        report["size"] = f"{shape.width}x{shape.height}"
        if not args.no_stages:
            table = stage_table(clip, args.frames, tmp)
            report["stages_cpu_ms"] = table
            print(f"{report['size']}, {args.frames} frames, one thread, CPU ms a frame")
            print(f"{'stage':<22}" + "".join(f"{name:>12}" for name in table))
            for stage in STAGES:
                print(f"{stage:<22}" + "".join(f"{row[stage]:12.1f}" for row in table.values()))
        if args.fidelity:
            video = fetch_samples(ROOT / "samples" / "media")["bikes"]
            report["fidelity"] = {name: fidelity(clip, tmp, name, video) for name in args.models}
            print("planes against today's RGB composite, same coefficients (1/255):")
            for model, rows in report["fidelity"].items():
                for name, row in rows.items():
                    numbers = ", ".join(f"{k} {v:.2f}" for k, v in row.items())
                    print(f"{model:>7} {name:>16}: {numbers}")
        if args.end_to_end:
            fps = end_to_end(clip, args.frames, args.rounds, tmp)
            report["fps"] = fps
            print(f"end to end, load {os.getloadavg()[0]:.1f}, frames/s: {fps}")
            selfie, rvm, plain = (fps[name]["fps"] for name in (*MODELS[::-1], "transcode"))
            print(f"selfie / rvm: {selfie / rvm:.2f}x (target >= 4)")
            print(f"transcode / selfie: {selfie / plain:.2f} (target >= 0.6)")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
