"""The pixel path in the codec's planes: both models' composites made in yuv420p, the selfie
model's input made by FFmpeg's scaler, RVM's from the planes' taps; read back from real files
with PyAV."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

import bgrm
from bgrm import pipeline
from bgrm.backgrounds import open_background, parse_background
from bgrm.batches import decode_batches
from bgrm.composite import from_uint8_hwc
from bgrm.finish import PlanePath, finish
from bgrm.finish.planes import chroma_alpha, guide_weights
from bgrm.matting import weights
from bgrm.matting.model import MattingNetwork
from bgrm.matting.plane_input import PlaneInput
from bgrm.matting.session import MattingSession, matte_batches
from bgrm.media.decode import DecodeReport
from bgrm.media.formats import Colour
from bgrm.media.planes import keeps_planes, rgb_in_planes, rgb_tables, split
from bgrm.media.probe import probe
from tests.conftest import bgrm as cli
from tests.media import make_clip


@pytest.fixture(scope="module")
def selfie() -> bgrm.Model:
    if not weights.weights_path("selfie").is_file():
        weights.pull(model="selfie")
    return bgrm.load_model("cpu", model="selfie")


CHOSEN = pipeline._plane_path
"""The pipeline's own choice of path (tests spy on it)."""


def planes_of_file(path: Path) -> list[np.ndarray]:
    """Every frame's yuv420p planes, uint8 [H * 3 / 2, W]."""
    with av.open(str(path)) as container:
        return [frame.to_ndarray() for frame in container.decode(video=0)]


def shown(path: Path) -> np.ndarray:
    """Every frame in RGB as the file's tags say (BT.601, limited: the sample's), int."""
    with av.open(str(path)) as container:
        frames = [
            f.to_ndarray(format="rgb24", src_colorspace=5, src_color_range=1)
            for f in container.decode(video=0)
        ]
    return np.stack(frames).astype(int)


def through(
    model, source, output, monkeypatch, planes: bool, force: bool = True, **parameters
) -> bgrm.Result:
    """bgrm.process with ``model``, losslessly encoded (CRF 0: the file holds what the encoder
    was given), checked to go through the planes or (``planes`` False) the RGB path; with
    ``force``, the RGB path is made to run when ``planes`` is False."""
    taken = []

    def spy(*arguments):
        path = CHOSEN(*arguments) if planes or not force else None
        taken.append(path is not None)
        return path

    monkeypatch.setattr(pipeline, "_plane_path", spy)
    result = bgrm.process(source, output, model=model, crf=0, overwrite=True, **parameters)
    assert taken == [planes]
    return result


def test_the_gray_room_keeps_every_luma_sample_of_the_recording(
    samples, selfie, tmp_path, monkeypatch
):
    result = through(
        selfie, samples["talk"], tmp_path / "gray.mp4", monkeypatch, True, background="grayscale"
    )
    written, recorded = planes_of_file(result.output), planes_of_file(samples["talk"])
    assert len(written) == len(recorded) == result.frames == 120
    height, width = 144, 176
    for out, source in zip(written, recorded, strict=True):
        out_y, out_u, _ = split(torch.from_numpy(out)[None], height, width)
        in_y, in_u, _ = split(torch.from_numpy(source)[None], height, width)
        assert torch.equal(out_y, in_y)  # person and room share their luma: exact
    assert (out_u != in_u).any()  # the room lost its colour


@pytest.mark.parametrize(
    ("network", "background"),
    [
        ("selfie", "#1e1e1e"),
        ("selfie", "#00ff00"),
        ("selfie", "background"),
        ("rvm", "#1e1e1e"),
        ("rvm", "background"),
        ("rvm", "grayscale"),
    ],
)
def test_the_composite_in_planes_is_today_s_rgb_composite(
    network, background, samples, tmp_path, monkeypatch, request
):
    """The selfie model's frame as foreground, and RVM's predicted foreground in the planes
    (its RGB clamp not made) with its alpha from an input equal to today's."""
    loaded = request.getfixturevalue("selfie" if network == "selfie" else "model")
    spec = str(samples["background"]) if background == "background" else background
    out = {}
    for planes in (False, True):
        target = tmp_path / f"{planes}.mp4"
        result = through(loaded, samples["talk"], target, monkeypatch, planes, background=spec)
        out[planes] = shown(result.output)
    diff = np.abs(out[True] - out[False])
    assert diff.shape[0] == 120
    # Today's path loses a mean 1.3/255 (p99.9 8/255) in its own YUV -> RGB -> YUV round
    # trip, which the planes do not make; the person's edge in the chroma is subsampled as
    # the encoder's swscale subsamples it (a 2x2 mean of the alpha: p99.9 12/255 over green).
    assert diff.mean() < 1.0
    assert np.percentile(diff, 99.9) <= 8


@pytest.mark.parametrize("colour", [Colour(5, 6, 1, 1), Colour(1, 1, 1, 2)])
def test_the_chroma_s_alpha_is_subsampled_as_the_encoder_subsamples_rgb(colour):
    # Pure green over gray with an alpha that changes from pixel to pixel, blended in RGB and
    # converted as the RGB path's encoder converts it: its chroma is the blend of the two
    # colours' chroma with the alpha subsampled by chroma_alpha, within rounding.
    alpha = torch.rand(1, 24, 32, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    green, gray = torch.tensor([0.0, 255.0, 0.0]), torch.tensor([128.0, 128.0, 128.0])
    rgb = alpha[0, ..., None] * green + (1 - alpha[0, ..., None]) * gray
    planes = torch.from_numpy(rgb_in_planes(rgb.round().byte().numpy(), colour))
    _, u, v = split(planes, 24, 32)
    solid = [
        split(torch.from_numpy(rgb_in_planes(c.expand(2, 2, 3).byte().numpy(), colour)), 2, 2)
        for c in (green, gray)
    ]
    for plane, index in ((u, 1), (v, 2)):
        over, under = (float(s[index][0, 0, 0]) for s in solid)
        expected = under + chroma_alpha(alpha) * (over - under)
        assert (plane.double() - expected).abs().max() <= 1.5  # RGB and swscale round
        mean = torch.nn.functional.avg_pool2d(alpha, 2)  # what the planes did before
        assert (plane.double() - (under + mean * (over - under))).abs().max() > 4


def composites(selfie, source: Path, spec: str) -> tuple[np.ndarray, np.ndarray]:
    """The selfie model's composites of ``source`` over ``spec``, from the same coefficients:
    today's in RGB as bgrm makes it (before the encoder's conversion), and the planes' as
    FFmpeg shows them; int [T, H, W, 3] each."""
    info = probe(source)
    size = (info.height, info.width)
    session = MattingSession(selfie, 1.0)
    wanted = session.model_input(*size)
    rgb_batches = decode_batches(info, 8, DecodeReport(), model=wanted)
    plane_batches = decode_batches(info, 8, DecodeReport(), model=wanted, planes=True)
    rooms = [open_background(parse_background(spec), *size, torch.device("cpu")) for _ in "ab"]
    path = PlanePath.open(rooms[1], info.colour, *size)
    made, kept = [], []
    with torch.inference_mode():
        for item, batch in zip(matte_batches(session, rgb_batches), plane_batches, strict=True):
            times = [float((p - info.start_pts) * info.time_base) for p in item.batch.pts]
            made.append(finish(item, {"rgb"}, rooms[0], times, None, None).rgb)
            out = path.composite(item.a, item.b, torch.from_numpy(batch.planes), times)
            kept += [as_rgb(frame, info.colour) for frame in out.numpy()]
    for room in rooms:
        room.close()
    return np.concatenate(made).astype(int), np.stack(kept).astype(int)


def as_rgb(planes: np.ndarray, colour: Colour) -> np.ndarray:
    """yuv420p planes uint8 [H * 3 / 2, W] -> RGB uint8 [H, W, 3] as FFmpeg shows them."""
    frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
    return frame.to_ndarray(
        format="rgb24", src_colorspace=colour.sws_matrix, src_color_range=colour.range
    )


@pytest.mark.parametrize("background", ["blur", "waves 601", "waves 709", "bikes"])
def test_rooms_and_videos_in_planes_are_today_s_rgb_composite_as_made(
    background, samples, selfie, tmp_path
):
    """The blurred room (blurred in the codes) and videos (cropped as today, scaled and
    converted by swscale into the planes, played by time): soft waves 352x240 at 25 frames/s,
    cropped and shrunk 1.7 times; the bikes, 640x272, cropped and shrunk 3.6 times. Against
    today's RGB composite before the encoder's conversion (not after it: that conversion
    costs today's path a mean 1.07 luma codes, which the planes do not lose)."""
    spec = "blur" if background == "blur" else str(samples["bikes"])
    if background.startswith("waves"):
        matrix = 1 if background.endswith("709") else 6
        waves = make_clip(
            tmp_path / "waves.mp4",
            size=(352, 240),
            frames=40,
            rate=Fraction(25),
            audio=False,
            colour=(matrix, matrix, 1, 1),
        )
        spec = str(waves)
    today, planes = composites(selfie, samples["talk"], spec)
    diff = np.abs(planes - today)
    assert diff.shape == (120, 144, 176, 3)
    assert diff.mean() < 1.0
    # The bikes' fine detail shows the chroma's half-sample offset of an odd crop.
    assert np.percentile(diff, 99.9) <= (10 if background == "bikes" else 8)


def test_the_default_blurred_room_is_written_from_the_planes(samples, tmp_path):
    out = tmp_path / "blurred.mp4"
    done = cli(
        "process", str(samples["talk"]), "--model", "selfie", "--crf", "0", "-o", str(out), "-q"
    )
    assert done.returncode == 0, done.stderr
    written, recorded = planes_of_file(out), planes_of_file(samples["talk"])
    assert len(written) == len(recorded) == 120
    luma = [(w[:144] == r[:144]).mean() for w, r in zip(written, recorded, strict=True)]
    # The person keeps the recording's luma sample for sample (48% of them here); today's
    # RGB path, through RGB and back, kept 5%.
    assert np.mean(luma) > 0.3


@pytest.mark.parametrize("ratio", [0.5, 0.37])
def test_rvm_s_input_from_the_planes_is_today_s_input(samples, ratio):
    with av.open(str(samples["talk"])) as container:
        frames = [frame for _, frame in zip(range(6), container.decode(video=0), strict=False)]
    colour = Colour(6, 6, 1, 1)  # the sample's tags: BT.601, limited
    rgb = np.stack(
        [f.to_ndarray(format="rgb24", src_colorspace=5, src_color_range=1) for f in frames]
    )
    today = MattingNetwork.model_input(from_uint8_hwc(torch.from_numpy(rgb)), ratio)
    planes = torch.from_numpy(np.stack([f.to_ndarray() for f in frames]))
    made = PlaneInput(colour, 144, 176, ratio)(planes)
    assert made.shape == today.shape == (6, 3, int(144 * ratio), int(176 * ratio))
    assert (made - today).abs().max() < 1e-5  # float rounding of the weights only (1/255: 4e-3)


@pytest.mark.parametrize("colour", [Colour(5, 6, 1, 1), Colour(1, 1, 1, 1), Colour(1, 1, 1, 2)])
def test_the_rgb_tables_are_ffmpeg_s_conversion(colour):
    generator = np.random.default_rng(5)
    height, width = 96, 1000  # not a multiple of 16 wide: FFmpeg's tail columns too
    planes = generator.integers(0, 256, (height * 3 // 2, width), dtype=np.uint8)
    rgb = av.VideoFrame.from_ndarray(planes, format="yuv420p").to_ndarray(
        format="rgb24", src_colorspace=colour.sws_matrix, src_color_range=colour.range
    )
    y, u, v = (p[0].astype(np.int64) for p in split(planes[None], height, width))
    u, v = (c.repeat(2, 0).repeat(2, 1) for c in (u, v))
    red, green, blue = rgb_tables(colour)
    assert np.array_equal(rgb[..., 0], red[v, y])
    assert np.array_equal(rgb[..., 1], green[v, u, y])
    assert np.array_equal(rgb[..., 2], blue[u, y])


def test_a_video_outside_the_planes_goes_the_rgb_way(samples, selfie, tmp_path, monkeypatch):
    odd = make_clip(tmp_path / "odd.mkv", size=(63, 47), frames=8, codec="ffv1")
    out = tmp_path / "odd.out.mp4"
    result = through(selfie, odd, out, monkeypatch, False, force=False, background="red")
    assert result.frames == 8
    with av.open(str(result.output)) as container:
        assert container.streams.video[0].codec_context.width == 64  # padded, as before
    assert not keeps_planes("yuv420p10le", 48, 64, 0)
    assert not keeps_planes("yuv422p", 48, 64, 0)
    assert not keeps_planes("yuv420p", 48, 64, 90)
    assert keeps_planes("yuvj420p", 48, 64, 0)


@pytest.mark.parametrize("colour", [Colour(5, 6, 1, 1), Colour(1, 1, 1, 1), Colour(1, 1, 1, 2)])
def test_the_guide_from_the_planes_is_ffmpeg_s_rgb_mean(samples, colour):
    with av.open(str(samples["talk"])) as container:
        frame = next(container.decode(video=0))
    rgb = frame.to_ndarray(
        format="rgb24", src_colorspace=colour.sws_matrix, src_color_range=colour.range
    )
    y, u, v = (p[0].double() for p in split(torch.from_numpy(frame.to_ndarray())[None], 144, 176))
    wy, wu, wv, w0 = guide_weights(colour)
    chroma = (u * wu + v * wv + w0).repeat_interleave(2, 0).repeat_interleave(2, 1)
    guide = (y * wy + chroma).numpy()
    diff = np.abs(guide * 255 - rgb.mean(-1))
    assert diff.mean() < 0.35  # rounding; FFmpeg's RGB clips where YUV is out of gamut


@pytest.mark.slow
@pytest.mark.parametrize("background", ["#00ff00", "grayscale"])
def test_the_compiled_planes_are_the_eager_planes(
    background, samples, selfie, tmp_path, monkeypatch
):
    inductor = tmp_path / "inductor"  # cold: compiled here
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(inductor))
    torch._dynamo.reset()
    out = {}
    for mode in ("off", "on"):
        with torch._dynamo.config.patch(fail_on_recompile_limit_hit=True):  # compiled, or error
            result = through(
                selfie,
                samples["talk"],
                tmp_path / f"{mode}.mp4",
                monkeypatch,
                True,
                background=background,
                compile=mode,
            )
        out[mode] = np.stack(planes_of_file(result.output)).astype(int)
        compiling = [n for n in result.notices if n.startswith("compiling")]
        assert len(compiling) == (mode == "on")
    assert any((inductor / "bgrm").glob("144x176-planes-*.ok"))  # compiled code ran
    assert out["on"].shape == out["off"].shape == (120, 144 * 3 // 2, 176)
    difference = np.abs(out["on"] - out["off"])
    assert difference.max() <= 1
    assert (difference > 0).mean() < 0.01  # rounding of the last bit only, here and there


@pytest.mark.parametrize("background", ["#00ff00", "blur"])
def test_bgrm_bench_times_the_path_each_model_s_job_takes(
    background, samples, selfie, weights_file
):
    done = cli("bench", str(samples["talk"]), "--frames", "6", "--bg", background)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    # both models' composites over a colour and over the blurred room are made in the planes
    assert report["paths"] == {"rvm": "planes", "selfie": "planes"}
    stages = ["decode", "model input", "model", "full-resolution step", "encode"]
    for model in ("rvm", "selfie"):
        row = report["stages_cpu_ms"][model]
        assert all(row[stage] > 0 for stage in stages)
        assert row["total"] == pytest.approx(sum(row[stage] for stage in stages))
    assert report["stages_cpu_ms"]["rvm"]["model"] > report["stages_cpu_ms"]["selfie"]["model"]
    assert report["end_to_end_fps"] > 0
    table = done.stdout.splitlines()
    assert table[1].split() == ["stage", "rvm", "selfie"]
    assert [line[:22].strip() for line in table[2:7]] == stages
