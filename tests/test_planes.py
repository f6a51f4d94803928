"""The pixel path in the codec's planes: both models' composites made in yuv420p, the selfie
model's input made by FFmpeg's scaler, RVM's from the planes' taps; read back from real files
with PyAV."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch

import bgrm
from bgrm import pipeline
from bgrm.composite import from_uint8_hwc
from bgrm.finish.planes import guide_weights
from bgrm.matting import weights
from bgrm.matting.model import MattingNetwork
from bgrm.matting.plane_input import PlaneInput
from bgrm.media.formats import Colour
from bgrm.media.planes import keeps_planes, rgb_tables, split
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


@pytest.mark.parametrize("background", ["#1e1e1e", "#00ff00", "background"])
def test_the_composite_in_planes_is_today_s_rgb_composite(
    background, samples, selfie, tmp_path, monkeypatch
):
    spec = str(samples["background"]) if background == "background" else background
    out = {}
    for planes in (False, True):
        result = through(
            selfie,
            samples["talk"],
            tmp_path / f"{planes}.mp4",
            monkeypatch,
            planes,
            background=spec,
        )
        out[planes] = shown(result.output)
    diff = np.abs(out[True] - out[False])
    assert diff.shape[0] == 120
    # Today's path loses a mean 1.3/255 (p99.9 8/255) in its own YUV -> RGB -> YUV round
    # trip, which the planes do not make; saturated chroma at the person's edge differs most.
    assert diff.mean() < 1.0
    assert np.percentile(diff, 99.9) <= (12 if background == "#00ff00" else 8)


@pytest.mark.parametrize("background", ["#1e1e1e", "background", "grayscale"])
def test_rvm_s_composite_in_planes_is_today_s_rgb_composite(
    background, samples, model, tmp_path, monkeypatch
):
    spec = str(samples["background"]) if background == "background" else background
    out = {}
    for planes in (False, True):
        result = through(
            model, samples["talk"], tmp_path / f"{planes}.mp4", monkeypatch, planes, background=spec
        )
        out[planes] = shown(result.output)
    diff = np.abs(out[True] - out[False])
    assert diff.shape[0] == 120
    # RVM's predicted foreground in the planes (its RGB clamp not made) and the alpha from
    # an input equal to today's: as close as the selfie model's frame as foreground.
    assert diff.mean() < 1.0
    assert np.percentile(diff, 99.9) <= 8


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
