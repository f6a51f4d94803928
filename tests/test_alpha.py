"""Alpha outputs, the matte and video backgrounds, read back the way an editor reads them.

ProRes with FFmpeg's prores decoder, WebM with the libvpx-vp9 decoder (FFmpeg's native VP9
decoder drops the alpha plane), PNGs with Pillow. The reference alpha is the lossless matte
(FFV1 gray) written in the same pass, and for the PNGs the model itself run on the same frames.
"""

from __future__ import annotations

import itertools
import json
import re
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from bgrm import Job, UsageError, mattes
from bgrm.media.probe import probe
from bgrm.outputs import HostFrames, WholeJob, check_targets
from tests.conftest import bgrm
from tests.media import (
    assert_person_is_opaque_and_room_transparent,
    audio_packets,
    gray_frames,
    make_clip,
    rgba_frames,
    video_frames,
)

MKV_TOLERANCE_S = 5e-4 + 1e-9  # Matroska and WebM store times in milliseconds


def prores_alpha(path: Path) -> np.ndarray:
    """The alpha plane of every frame as an editor reads it: 12-bit from the prores decoder,
    scaled to uint8 [N, H, W] with rounding (PyAV's own RGBA conversion truncates)."""
    with av.open(str(path)) as container:
        planes = []
        for frame in container.decode(container.streams.video[0]):
            assert frame.format.name == "yuva444p12le"
            plane = frame.planes[3]
            samples = np.frombuffer(plane, np.uint16).reshape(plane.height, -1)
            planes.append(samples[:, : plane.width])
    return np.round(np.stack(planes) * (255 / 4095)).astype(np.uint8)


def alpha_error(alpha: np.ndarray, reference: np.ndarray) -> tuple[float, int]:
    """Mean and max absolute difference in 1/255 steps."""
    difference = np.abs(alpha.astype(int) - reference.astype(int))
    return float(difference.mean()), int(difference.max())


@pytest.mark.slow
def test_prores_4444_keeps_alpha_audio_and_time(samples, weights_file, tmp_path):
    out, matte = tmp_path / "talk.mov", tmp_path / "matte.mkv"
    args = ["--alpha", "prores", "-o", str(out), "--matte", str(matte), "--downsample", "0.5"]
    done = bgrm("process", str(samples["talk"]), *args)
    assert done.returncode == 0, done.stderr
    assert f"wrote {out}" in done.stderr and f"wrote the matte {matte}" in done.stderr

    with av.open(str(out)) as container:
        context = container.streams.video[0].codec_context
        assert (context.name, context.profile, context.pix_fmt) == (
            "prores",
            "4444",
            "yuva444p12le",
        )
    formats, times, rgba = rgba_frames(out)
    assert formats == ["yuva444p12le"]  # the decoder hands the alpha plane over
    source_times, _ = video_frames(samples["talk"])
    assert times == pytest.approx(source_times, abs=1e-6)
    assert audio_packets(out) == audio_packets(samples["talk"])  # AAC copied

    matte_times, reference = gray_frames(matte)
    assert matte_times == pytest.approx(source_times, abs=MKV_TOLERANCE_S)
    mean, worst = alpha_error(prores_alpha(out), reference)
    assert mean <= 0.01 and worst <= 1  # measured: exact
    mean, worst = alpha_error(rgba[..., 3], reference)
    assert mean <= 0.5 and worst <= 1  # through FFmpeg's RGBA conversion, which truncates
    assert_person_is_opaque_and_room_transparent(rgba[..., 3])
    transparent = reference == 0
    assert transparent.mean() > 0.2
    assert rgba[..., :3][transparent].max() <= 2  # black, give or take the YUV round trip


@pytest.mark.slow
def test_webm_vp9_alpha_needs_the_libvpx_decoder(samples, weights_file, tmp_path):
    out, matte = tmp_path / "talk.webm", tmp_path / "matte.mkv"
    args = ["--alpha", "webm", "-o", str(out), "--matte", str(matte), "--downsample", "0.5"]
    done = bgrm("process", str(samples["talk"]), *args)
    assert done.returncode == 0, done.stderr
    assert "transcoding to opus" in done.stderr

    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.metadata.get("ALPHA_MODE") == "1"
        assert container.streams.audio[0].codec_context.name == "opus"
    assert rgba_frames(out)[0] == ["yuv420p"]  # the native VP9 decoder drops the alpha plane
    formats, times, rgba = rgba_frames(out, decoder="libvpx-vp9")
    assert formats == ["yuva420p"]
    source_times, _ = video_frames(samples["talk"])
    assert times == pytest.approx(source_times, abs=MKV_TOLERANCE_S)

    _, reference = gray_frames(matte)
    mean, _ = alpha_error(rgba[..., 3], reference)
    assert mean <= 1.0  # lossy, measured 0.3 at the default quality
    assert_person_is_opaque_and_room_transparent(rgba[..., 3])
    with av.open(str(out)) as container:
        sound = container.decode(container.streams.audio[0])
        seconds = sum(frame.samples for frame in sound) / 48000
    assert seconds == pytest.approx(4.0, abs=0.1)  # the whole voice, transcoded


def model_rgba(source: Path, frames: int, batch: int, ratio: float) -> np.ndarray:
    """The model's own RGBA for the first ``frames`` frames, from the library's ``mattes``."""
    rgba = []
    for frame in itertools.islice(mattes(source, downsample=ratio, batch=batch), frames):
        opaque = frame.alpha[..., None] > 0
        rgba.append(np.concatenate([frame.foreground * opaque, frame.alpha[..., None]], axis=-1))
    return np.stack(rgba)


@pytest.mark.slow
def test_png_folder_is_exactly_the_model_output(samples, weights_file, tmp_path):
    folder, matte = tmp_path / "frames", tmp_path / "matte.mkv"
    args = ["--alpha", "png", "-o", str(folder), "--matte", str(matte), "--downsample", "0.5"]
    done = bgrm("process", str(samples["talk"]), *args, "--batch", "4")
    assert done.returncode == 0, done.stderr

    names = sorted(p.name for p in folder.iterdir())
    frames = [f"frame_{i:06d}.png" for i in range(120)]
    assert names == sorted(["audio.m4a", "frames.json", *frames])
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left
    with Image.open(folder / "frame_000000.png") as first:
        assert (first.mode, first.size) == ("RGBA", (176, 144))
    rgba = np.stack([np.asarray(Image.open(folder / f"frame_{i:06d}.png")) for i in range(120)])

    _, reference = gray_frames(matte)
    assert np.array_equal(rgba[..., 3], reference)  # PNG and the matte: the same uint8
    assert rgba[..., :3][rgba[..., 3] == 0].max() == 0  # transparent pixels are zero
    assert np.array_equal(rgba[:8], model_rgba(samples["talk"], 8, batch=4, ratio=0.5))
    assert_person_is_opaque_and_room_transparent(rgba[..., 3])

    sidecar = json.loads((folder / "frames.json").read_text())
    source_times, _ = video_frames(samples["talk"])
    assert [f["file"] for f in sidecar["frames"]] == frames
    assert [f["time"] for f in sidecar["frames"]] == pytest.approx(source_times, abs=1e-9)
    assert (sidecar["time_base"], sidecar["audio"]) == ("1/30000", "audio.m4a")
    assert audio_packets(folder / "audio.m4a") == audio_packets(samples["talk"])  # copied


@pytest.mark.slow
def test_variable_frame_rate_is_kept_in_every_alpha_output(weights_file, tmp_path):
    pts = [0, 1001, 3003, 3500, 7007, 9000, 9001, 12012]
    clip = make_clip(tmp_path / "vfr.mp4", size=(64, 48), vfr_pts=pts, audio=False)
    expected = [p / 30000 for p in pts]
    folder, mov = tmp_path / "frames", tmp_path / "vfr.mov"
    for args in (["--alpha", "png", "-o", str(folder)], ["--alpha", "prores", "-o", str(mov)]):
        done = bgrm("process", str(clip), *args, "--downsample", "0.5", "-q")
        assert done.returncode == 0, done.stderr
    sidecar = json.loads((folder / "frames.json").read_text())
    assert [f["pts"] for f in sidecar["frames"]] == pts
    assert sidecar["audio"] is None and not list(folder.glob("audio.*"))
    assert rgba_frames(mov)[1] == pytest.approx(expected, abs=1e-6)


def solid_colour_clip(path: Path, colours: list[tuple[int, int, int]], size=(96, 54)) -> Path:
    """A 30 frames/s clip showing one solid colour per frame, no audio."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        for index, colour in enumerate(colours):
            rgb = np.broadcast_to(np.array(colour, np.uint8), (size[1], size[0], 3))
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, 30)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


@pytest.mark.slow
def test_video_background_plays_by_time_loops_and_matte_in_one_pass(
    samples, weights_file, tmp_path
):
    """A 1 s background (red half a second, then blue) behind the 4 s sample: looped, by time."""
    red, blue = (220, 30, 30), (30, 30, 220)
    background = solid_colour_clip(tmp_path / "bg.mp4", [red] * 15 + [blue] * 15)
    out, matte = tmp_path / "out.mp4", tmp_path / "matte.mp4"
    args = ["--bg", str(background), "-o", str(out), "--matte", str(matte), "--downsample", "0.5"]
    done = bgrm("process", str(samples["talk"]), *args)
    assert done.returncode == 0, done.stderr
    assert "looping it" in done.stderr

    times, result = video_frames(out)
    assert len(times) == 120
    assert audio_packets(out) == audio_packets(samples["talk"])
    ceiling = result[:, 2:20, 2:40].reshape(120, -1, 3).mean(axis=1)
    for time, colour in zip(times, ceiling, strict=True):
        phase = time % 1.0
        if min(abs(phase - 0.5), 1.0 - phase, phase) < 0.05:
            continue  # too close to a change of colour to tell
        expected = red if phase < 0.5 else blue
        assert np.abs(colour - expected).max() < 12, (time, colour)

    matte_times, alpha = gray_frames(matte)
    assert matte_times == pytest.approx(times, abs=1e-6)
    assert_person_is_opaque_and_room_transparent(alpha)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--alpha", "prores", "--bg", "white", "-o", "{tmp}/x.mov"], "--bg"),
        (["--alpha", "prores", "-o", "{tmp}/x.mp4"], ".mov"),
        (["--alpha", "png", "-o", "{tmp}/file.mp4"], "folder"),
    ],
)
def test_conflicting_options_fail_before_any_work(samples, tmp_path, args, message):
    home = tmp_path / "home"  # no weights here: a run that got as far as loading them would say so
    fill = {"tmp": tmp_path}
    args = [a.format(**fill) for a in args]
    done = bgrm("process", str(samples["talk"]), *args, env={"BGRM_HOME": str(home)})
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("bgrm: error: ") and message in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"alpha": "webm", "output": "x.mov"}, "`output` must end in .webm"),
        ({"alpha": "prores", "background": "blur"}, "cannot be combined with `background`"),
        ({"alpha": "gif"}, "`alpha` must be one of prores, webm, png, got 'gif'"),
        ({"alpha": "png", "output": "frames/f.PNG"}, "`output` must name a folder"),
        ({"matte": "m.avi", "output": "x.mp4"}, "'.avi' for `matte`"),
        ({"matte": "x.mp4", "output": "x.mp4"}, "same file"),
        ({"matte": "talk.bgrm.mov", "alpha": "prores"}, "same file"),
    ],
)
def test_option_conflicts_are_usage_errors(fields, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        Job(input="talk.mp4", **fields)


def test_alpha_default_outputs_and_json_round_trip():
    for alpha, name in (("prores", "talk.bgrm.mov"), ("webm", "talk.bgrm.webm")):
        assert Path(Job("in/talk.mp4", alpha=alpha).output_path()) == Path("in", name)
    png = Job("in/talk.mp4", alpha="png", matte="m.mkv")
    assert Path(png.output_path()) == Path("in/talk.bgrm-frames")
    assert Job.from_json(png.to_json()) == png
    assert Job("talk.mp4").background_spec == "blur"


@pytest.mark.slow
def test_png_folder_refuses_to_replace_what_bgrm_did_not_write(samples, tmp_path):
    folder = tmp_path / "precious"
    folder.mkdir()
    (folder / "thesis.txt").write_text("keep me")
    for extra in ([], ["-y"]):
        done = bgrm("process", str(samples["talk"]), "--alpha", "png", "-o", str(folder), *extra)
        assert done.returncode == 1, done.stderr
        assert str(folder) in done.stderr
    assert (folder / "thesis.txt").read_text() == "keep me"
    a_file = tmp_path / "frames"
    a_file.write_text("")
    done = bgrm("process", str(samples["talk"]), "--alpha", "png", "-o", str(a_file))
    assert done.returncode == 1 and "needs a folder" in done.stderr


def test_png_folder_with_y_replaces_an_earlier_one_whole(tmp_path):
    """The folder swap itself, with the real PNG writer and made-up frames (no model needed)."""
    clip = make_clip(tmp_path / "in.mp4", size=(8, 6), frames=3)
    folder = tmp_path / "frames"
    info = probe(clip)
    rgba = np.random.default_rng(0).integers(0, 256, (3, 6, 8, 4), dtype=np.uint8)
    for count, overwrite in ((3, False), (2, True)):
        options = Job(str(clip), str(folder), alpha="png", overwrite=overwrite)
        check_targets(options)
        (sink,) = WholeJob(options).open(info, lambda message: None)
        sink.write(HostFrames(list(range(count)), rgba=rgba[:count]))
        sink.finish()
        sink.commit()
    assert sorted(p.name for p in folder.iterdir()) == [
        "audio.m4a",
        "frame_000000.png",
        "frame_000001.png",
        "frames.json",
    ]
    assert np.array_equal(np.asarray(Image.open(folder / "frame_000001.png")), rgba[1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames", "in.mp4"]
