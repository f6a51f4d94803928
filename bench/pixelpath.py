"""The pixel path at 1080p: CPU ms a frame of each stage, both models, and whole jobs as ratios.

    python bench/pixelpath.py --height 1080 --frames 24           # the stage table
    python bench/pixelpath.py --frames 120 --end-to-end            # and whole jobs, alternating
    python bench/pixelpath.py --frames 24 --fidelity --no-stages   # planes against RGB, per bg

Stages, timed on one thread (torch's and the codec's) in this process over the same frames of
the real talking head (looped, scaled to 16:9): decode (H.264 to the codec's planes), model
input (today: the planes to a full-size RGB frame, float, resized in torch; the planes' path:
FFmpeg's scaler straight to the model's size for the selfie model, RVM's taps gathered from the
planes in torch for RVM), model (the network and its guided filter's
coefficients), full-resolution step (alpha at full size, the blend over a colour, uint8: in
RGB, and in the output's planes), encode (libx264 veryfast CRF 18, from RGB and from planes).
CPU time is process time, so threads the codec starts count too.

--end-to-end: each model's job in a child process (bgrm_bench.harness: frames/s as bgrm
reports it, and wall clock with start-up) and a plain transcode of the same clip in this
process (decode + libx264 veryfast CRF 18, PyAV, threads as bgrm's), alternating; prints the
ratios the issue asks for (selfie / RVM, transcode / selfie, from bgrm's own frames/s).

--fidelity: each model's composite made in the planes against today's RGB composite of the
same coefficients, per background, as each reaches the encoder, shown in RGB (1/255); how far
the matte moves with the input made from the planes; the composite made all the planes' way.
--clip: a video as it is (e.g. samples/media/talk.mp4) instead of the 16:9 one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
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
from bgrm.composite import from_uint8_hwc, to_uint8_hwc  # noqa: E402
from bgrm.finish import finish  # noqa: E402
from bgrm.finish.blend import over_background  # noqa: E402
from bgrm.finish.planes import PlanePath  # noqa: E402
from bgrm.matting.refiner import DeepGuidedFilterRefiner  # noqa: E402
from bgrm.matting.session import MattingSession, matte_batches  # noqa: E402
from bgrm.media.decode import DecodeReport  # noqa: E402
from bgrm.media.formats import X264_OPTIONS, Colour  # noqa: E402
from bgrm.media.info import VideoInfo  # noqa: E402
from bgrm.media.planes import planes_of, scaled_rgb  # noqa: E402
from bgrm.media.probe import probe  # noqa: E402
from bgrm_bench.harness import ProcessRun, measure_process  # noqa: E402
from bgrm_bench.process import make_clip  # noqa: E402
from samples.fetch import fetch_samples  # noqa: E402

MODELS = ("rvm", "selfie")
COLOUR = "#00ff00"


def cpu_ms(frames: int, run: Callable[[], object]) -> float:
    """CPU ms a frame (process time) of ``run()``, which handles ``frames`` frames."""
    started = time.process_time()
    run()
    return (time.process_time() - started) * 1000 / frames


def decoded(clip: Path, count: int) -> list[av.VideoFrame]:
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "NONE"
        return [frame for _, frame in zip(range(count), container.decode(stream), strict=False)]


def encode(target: Path, frames: list, pixels: str) -> None:
    """libx264 veryfast CRF 18, one thread, from RGB arrays (converted as bgrm's writer
    converts them) or from decoded yuv420p frames."""
    height, width = frames[0].shape[:2] if pixels == "rgb" else (frames[0].height, frames[0].width)
    with av.open(str(target), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {**X264_OPTIONS, "crf": "18", "threads": "1"}
        for index, frame in enumerate(frames):
            if pixels == "rgb":
                frame = av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(
                    format="yuv420p", dst_colorspace=1, dst_color_range=1
                )
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


@dataclass
class Clip:
    """The frames every stage is timed on."""

    info: VideoInfo
    frames: list[av.VideoFrame]  # decoded, yuv420p
    rgb: list[np.ndarray]  # uint8 [H, W, 3] each
    planes: list[torch.Tensor]  # uint8 [1, H * 3 / 2, W] each


def stage_table(clip: Path, count: int, tmp: Path) -> dict[str, dict[str, float]]:
    """CPU ms a frame of each stage, for both models (nan: the model does not take that way)."""
    torch.set_num_threads(1)
    frames = decoded(clip, count)
    shared = {"decode": cpu_ms(count, lambda: decoded(clip, count))}
    shared["planes -> full RGB"] = cpu_ms(
        count, lambda: [f.to_ndarray(format="rgb24") for f in frames]
    )
    rgb = [frame.to_ndarray(format="rgb24") for frame in frames]
    target = tmp / "encode.mp4"
    shared["encode from RGB"] = cpu_ms(count, lambda: encode(target, rgb, "rgb"))
    shared["encode from planes"] = cpu_ms(count, lambda: encode(target, frames, "planes"))
    planes = [torch.from_numpy(planes_of(f))[None] for f in frames]
    held = Clip(probe(clip), frames, rgb, planes)
    return {name: {**shared, **model_row(name, held)} for name in MODELS}


def model_row(name: str, clip: Clip) -> dict[str, float]:
    """CPU ms a frame of the model's stages: its input made two ways, the network, the
    full-resolution step in RGB and in the planes."""
    info, count = clip.info, len(clip.frames)
    height, width = info.height, info.width
    session = MattingSession(bgrm.load_model("cpu", model=name), ratio_of(height, width))
    network, ratio = session.model.network, session.downsample_ratio
    wanted = session.model_input(height, width)
    background = open_background(parse_background(COLOUR), height, width, torch.device("cpu"))
    path = PlanePath.open(background, info.colour, height, width)
    nan = float("nan")
    row = {"model input, torch": nan, "model input, planes": nan, "model": nan}
    row.update({"full-res, RGB float": nan, "full-res, planes": nan})

    def by_torch() -> list[torch.Tensor]:
        return [
            network.model_input(from_uint8_hwc(torch.from_numpy(x)[None]), ratio) for x in clip.rgb
        ]

    def by_scaler() -> list[torch.Tensor]:
        small = (scaled_rgb(f, wanted.size, info.colour, wanted.filter) for f in clip.frames)
        return [from_uint8_hwc(torch.from_numpy(x)[None]) for x in small]

    from_planes = session.plane_input(info.colour, height, width)

    def by_taps() -> list[torch.Tensor]:
        return [from_planes(planes) for planes in clip.planes]

    coefficients = []

    def run_model(bases: list[torch.Tensor]) -> None:
        state: tuple = ()
        for base in bases:
            a, b, *state = network.coefficients(None, 1, tuple(state), ratio, base=base)
            coefficients.append((a, b))

    def rgb_tail() -> None:
        for (a, b), rgb in zip(coefficients, clip.rgb, strict=True):
            src = from_uint8_hwc(torch.from_numpy(rgb)[None])
            fgr, pha = DeepGuidedFilterRefiner.refine(a, b, src)
            to_uint8_hwc(over_background(fgr, pha, src, None, background, (0.0,), None))

    def plane_tail() -> None:
        for (a, b), planes in zip(coefficients, clip.planes, strict=True):
            path.composite(a, b, planes)

    with torch.inference_mode():
        row["model input, torch"] = cpu_ms(count, by_torch)
        bases = by_torch()
        planes_way = by_scaler if wanted is not None else by_taps
        row["model input, planes"] = cpu_ms(count, planes_way)
        bases = planes_way()
        row["model"] = cpu_ms(count, lambda: run_model(bases))
        row["full-res, RGB float"] = cpu_ms(count, rgb_tail)
        if path is not None:
            row["full-res, planes"] = cpu_ms(count, plane_tail)
    return row


def ratio_of(height: int, width: int) -> float:
    """The automatic downsample ratio (bgrm.Job's "auto")."""
    return min(1.0, 512 / max(height, width))


def fidelity(clip: Path, folder: Path, model: str) -> dict[str, dict[str, float]]:
    """The composite in planes against today's RGB composite, per background, with the same
    coefficients (``model``'s, from today's input): each as the encoder gets it (the RGB one
    converted as bgrm's writer converts it), shown in RGB by FFmpeg; today's own loss, the
    decoded frames through RGB and back; how far the matte moves with the model's input made
    from the planes (the alpha at full size, both from today's RGB frame), and the composite
    over #1e1e1e made all the planes' way; what the foreground's clamp to [0, 1] in RGB (which
    the planes cannot make) changes in today's composite (1/255: mean, p99.9, max)."""
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
        for spec in (COLOUR, "#1e1e1e", str(image), "grayscale"):
            background = open_background(parse_background(spec), *size, torch.device("cpu"))
            path = PlanePath.open(background, colour, *size)
            name = Path(spec).name
            for item, kept in zip(matted, in_planes, strict=True):
                times = [0.0] * len(item.batch.pts)
                rgb = finish(item, {"rgb"}, background, times, None, None).rgb
                before = [shown(to_planes(x, colour), colour) for x in rgb]
                planes = torch.from_numpy(kept.batch.planes)
                after = path.composite(item.a, item.b, planes).numpy()
                add(
                    name, (np.abs(x - shown(y, colour)) for x, y in zip(before, after, strict=True))
                )
                if spec == "#1e1e1e":
                    after = path.composite(kept.a, kept.b, planes).numpy()
                    add(
                        "#1e1e1e, all",
                        (np.abs(x - shown(y, colour)) for x, y in zip(before, after, strict=True)),
                    )
                if spec == COLOUR:
                    back = (shown(to_planes(x, colour), colour) for x in item.batch.rgb)
                    add(
                        "RGB round trip",
                        (np.abs(x - y) for x, y in zip(back, item.batch.rgb, strict=True)),
                    )
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
            print(f"{'stage':<22}" + "".join(f"{name:>9}" for name in MODELS))
            for stage in table[MODELS[0]]:
                print(f"{stage:<22}" + "".join(f"{table[name][stage]:9.1f}" for name in MODELS))
        if args.fidelity:
            report["fidelity"] = {name: fidelity(clip, tmp, name) for name in args.models}
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
