"""What goes in comes out: pixel aspect, colour description, index first, first frame time,
codec and quality, still images. Every point is read back from the files with PyAV."""

from __future__ import annotations

import json
import os
import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

import bgrm
from bgrm.media.decode import read_frames
from tests.conftest import bgrm as cli
from tests.media import assert_person_is_opaque_and_room_transparent, make_clip

SWS_MATRIX = {1: "itu709", 5: "itu601", 6: "itu601", 9: "bt2020"}


@pytest.fixture(scope="module")
def run(weights_file):
    """run(source, output, **parameters) -> bgrm.Result, in this process with one model (the
    CLI's own behaviour is tested where it matters: exit codes and messages)."""
    model = bgrm.load_model("cpu")

    def process(source, output, **parameters) -> bgrm.Result:
        parameters = {"downsample": 0.25, "overwrite": True, **parameters}
        return bgrm.process(source, output, model=model, **parameters)

    return process


CEILING = (slice(2, 20), slice(2, 40))  # the car's ceiling in the sample: room in every frame


def top_level_boxes(path: Path) -> list[str]:
    """The MP4/MOV top-level box types, in file order."""
    data = path.read_bytes()
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
        boxes.append(kind.decode("latin-1"))
        if size < 8:
            break
        offset += size
    return boxes


def tags(path: Path) -> dict[str, tuple[int, int, int, int]]:
    """(matrix, primaries, transfer, range) as the container says and as the first decoded
    frame (the bitstream) says."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        context = stream.codec_context
        said = (context.colorspace, context.color_primaries, context.color_trc, context.color_range)
        frame = next(container.decode(stream))
        decoded = (frame.colorspace, frame.color_primaries, frame.color_trc, frame.color_range)
    return {"container": said, "frame": decoded}


def shown_rgb(path: Path, count: int = 30) -> np.ndarray:
    """The first frames as a player that honours the file's tags shows them: uint8 [N, H, W, 3]."""
    with av.open(str(path)) as container:
        frames = []
        for frame in container.decode(container.streams.video[0]):
            frames.append(
                frame.to_ndarray(
                    format="rgb24",
                    src_colorspace=SWS_MATRIX[frame.colorspace],
                    src_color_range=frame.color_range,
                )
            )
            if len(frames) == count:
                break
    return np.stack(frames)


def retagged(source: Path, target: Path, colour: tuple[int, int, int, int]) -> Path:
    """``source``'s picture encoded again (H.264, near lossless) converted and tagged ``colour``."""
    matrix, primaries, transfer, color_range = colour
    rgb = [frame.rgb for frame in read_frames(source)]
    with av.open(str(target), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(30000, 1001), options={"qp": "0"})
        stream.height, stream.width = rgb[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        context = stream.codec_context
        context.colorspace, context.color_primaries = matrix, primaries
        context.color_trc, context.color_range = transfer, color_range
        for index, picture in enumerate(rgb):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(
                format="yuv420p", dst_colorspace=SWS_MATRIX[matrix], dst_color_range=color_range
            )
            frame.pts, frame.time_base = index * 1001, Fraction(1, 30000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return target


@pytest.mark.slow
def test_the_pixel_aspect_ratio_is_kept(samples, run, tmp_path):
    """The sample is stored 176x144 with pixels 128:117 wide; every output keeps that."""
    talk = samples["talk"]
    run(talk, tmp_path / "out.mp4", background="#1e1e1e", matte=tmp_path / "m.mp4")
    run(talk, tmp_path / "out.mkv", background="#1e1e1e")
    run(talk, tmp_path / "out.mov", alpha="prores")
    run(talk, tmp_path / "frames", alpha="png")
    for name in ("out.mp4", "m.mp4", "out.mkv", "out.mov"):
        with av.open(str(tmp_path / name)) as container:
            assert container.streams.video[0].sample_aspect_ratio == Fraction(128, 117), name
    sidecar = json.loads((tmp_path / "frames" / "frames.json").read_text())
    assert sidecar["sample_aspect_ratio"] == "128:117"


@pytest.mark.slow
def test_mp4_mov_and_m4a_put_their_index_first(samples, run, tmp_path):
    talk = samples["talk"]
    run(talk, tmp_path / "c.mp4", matte=tmp_path / "m.mov")
    run(talk, tmp_path / "a.mov", alpha="prores")
    run(talk, tmp_path / "frames", alpha="png")
    for path in (tmp_path / "c.mp4", tmp_path / "m.mov", tmp_path / "a.mov",
                 tmp_path / "frames" / "audio.m4a"):  # fmt: skip
        boxes = top_level_boxes(path)
        assert boxes.index("moov") < boxes.index("mdat"), (path.name, boxes)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("colour", "name"),
    [((1, 1, 1, 1), "bt709"), (None, "untagged SD: smpte170m")],
)
def test_colour_is_described_alike_everywhere_and_a_colour_shows_as_asked(
    samples, run, tmp_path, colour, name
):
    source = samples["talk"]
    if colour is not None:
        source = retagged(source, tmp_path / "tagged.mp4", colour)
    expected = colour or (6, 6, 1, 1)  # untagged, below 720 lines: BT.601 (170M), whose
    # transfer is BT.709's
    run(source, tmp_path / "out.mp4", background="#dc1e1e", matte=tmp_path / "m.mp4")
    run(source, tmp_path / "out.webm", background="#dc1e1e")
    run(source, tmp_path / "a.mov", alpha="prores")
    run(source, tmp_path / "a.webm", alpha="webm")
    for out in ("out.mp4", "m.mp4", "out.webm", "a.mov", "a.webm"):
        described = tags(tmp_path / out)
        assert described["container"] == expected, (out, described)
        assert described["frame"] == expected, (out, described)
    for out in ("out.mp4", "out.webm"):
        ceiling = shown_rgb(tmp_path / out)[:, CEILING[0], CEILING[1]].reshape(-1, 3)
        assert np.abs(np.median(ceiling, axis=0) - (220, 30, 30)).max() <= 3, (out, name)


@pytest.mark.slow
def test_hdr_input_keeps_its_tags_and_says_what_is_done(run, tmp_path):
    pq = (9, 9, 16, 1)  # BT.2020 matrix and primaries, PQ transfer, limited range
    clip = make_clip(tmp_path / "hdr.mkv", size=(96, 64), frames=6, codec="libx265",
                     pix_fmt="yuv420p10le", audio=False, colour=pq)  # fmt: skip
    out = tmp_path / "out.mp4"
    result = run(clip, out, background="white")
    assert result.notices[0].startswith("HDR input (PQ (SMPTE 2084)): written with its own")
    assert tags(out) == {"container": pq, "frame": pq}


@pytest.mark.slow
def test_webm_and_matroska_start_with_the_input_s_first_frame(samples, run, tmp_path):
    """Opus (transcoded) and AAC (copied) carry priming before time 0; the files still start
    with the first video frame, at the input's time, here also for an input starting at 0.1 s."""
    late = make_clip(tmp_path / "late.mp4", vfr_pts=[3000 + 1001 * i for i in range(20)])
    for source, first in ((samples["talk"], 0.0), (late, 0.1)):
        for name in ("out.webm", "out.mkv"):
            out = tmp_path / name
            run(source, out)
            with av.open(str(out)) as container:
                video, audio = container.streams.video[0], container.streams.audio[0]
                frame = next(container.decode(video))
                assert float(frame.pts * frame.time_base) == pytest.approx(first, abs=1e-9)
                assert container.start_time / av.time_base == pytest.approx(first, abs=1e-9)
                assert float(audio.start_time * audio.time_base) >= first - 1e-9


@pytest.mark.slow
def test_codec_and_quality_can_be_chosen(samples, run, tmp_path):
    talk = samples["talk"]
    sizes = {}
    for name, parameters, codec in [
        ("h264.mp4", {}, "h264"),
        ("small.mp4", {"crf": 30}, "h264"),
        ("hevc.mp4", {"codec": "hevc"}, "hevc"),
        ("av1.webm", {"codec": "av1"}, "av1"),
        ("vp9.mkv", {"codec": "vp9"}, "vp9"),
    ]:
        out = tmp_path / name
        run(talk, out, **parameters)
        with av.open(str(out)) as container:
            assert container.streams.video[0].codec_context.name in (
                codec,
                f"lib{codec}",
                "libdav1d",
            )
            assert sum(1 for _ in container.decode(video=0)) == 120
        sizes[name] = out.stat().st_size
    assert sizes["small.mp4"] < 0.7 * sizes["h264.mp4"]
    with av.open(str(tmp_path / "hevc.mp4")) as container:
        assert container.streams.video[0].codec_tag == "hvc1"  # what Apple's players need
    av1 = cli("process", str(talk), "-o", str(tmp_path / "cli.webm"), "--codec", "av1", "-q",
               "--downsample", "0.25")  # fmt: skip
    assert av1.returncode == 0 and av1.stderr == ""  # no encoder chatter
    for args, message in [
        (["--codec", "hevc", "-o", str(tmp_path / "x.webm")], "a .webm file cannot hold hevc"),
        (["--crf", "70", "-o", str(tmp_path / "x.mp4")], "--crf for h264 must be 0 to 51"),
        (["--codec", "av1", "--alpha", "prores", "-o", str(tmp_path / "x.mov")], "--codec"),
    ]:
        done = cli("process", str(talk), *args)
        assert done.returncode == 2 and message in done.stderr, done.stderr


@pytest.mark.slow
def test_a_still_image_gives_a_still_image(samples, weights_file, tmp_path):
    """A photo stored sideways with an EXIF orientation: upright out, composited or cut out."""
    with av.open(str(samples["talk"])) as container:
        upright = next(container.decode(video=0)).to_image()
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise
    photo = tmp_path / "photo.jpg"
    upright.transpose(Image.Transpose.ROTATE_90).save(photo, exif=exif.tobytes(), quality=95)

    done = cli("process", str(photo), "--bg", "#1e1e1e", "--downsample", "1.0")
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == f"bgrm: wrote {tmp_path / 'photo.bgrm.png'}"
    result = np.asarray(Image.open(tmp_path / "photo.bgrm.png"))
    assert result.shape == (144, 176, 3)  # upright
    assert np.abs(result[CEILING].reshape(-1, 3).mean(0) - 30).max() < 12  # the room replaced
    chest = (slice(110, 140), slice(60, 120))
    assert np.abs(result[chest].astype(int) - np.asarray(upright)[chest]).mean() < 8

    cut = tmp_path / "cut.webp"
    done = cli(
        "process", str(photo), "--alpha", "png", "-o", str(cut), "--matte", str(tmp_path / "m.png")
    )
    assert done.returncode == 0, done.stderr
    rgba = np.asarray(Image.open(cut))
    assert rgba.shape == (144, 176, 4)
    assert_person_is_opaque_and_room_transparent(rgba[None, ..., 3])
    assert Image.open(tmp_path / "m.png").mode == "L"

    done = cli("process", str(photo), "-o", str(tmp_path / "x.mp4"))
    assert done.returncode == 2 and "(use .png, .jpg, .jpeg or .webp)" in done.stderr


@pytest.mark.slow
def test_an_unwritable_weights_cache_is_an_environment_error(samples, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    home = blocker / "cache"  # below a file: cannot be made
    out = tmp_path / "out.mp4"
    done = cli("process", str(samples["talk"]), "-o", str(out), "-q", env={"BGRM_HOME": str(home)})
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 3, done.stderr
    assert len(lines) == 1 and lines[0].startswith("bgrm: error: cannot write the weights cache")
    assert str(home) in lines[0] and not out.exists()
    assert os.listdir(tmp_path) == ["file"]
