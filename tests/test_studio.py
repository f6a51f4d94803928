"""Studio finish and batch work: light wrap, the grayscale room, the preview sheet, many files."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import bgrm
from bgrm.backgrounds import ColourSpec, open_background
from bgrm.batches import batches_of
from bgrm.finish import finish
from bgrm.matting.session import MattingSession, matte_batches
from bgrm.media.decode import read_frames
from bgrm.media.probe import probe
from tests.conftest import bgrm as cli
from tests.media import cut, loop_clip, video_frames

RED = (255, 0, 0)


def eroded(mask: np.ndarray, pixels: int) -> np.ndarray:
    """bool [N, H, W] shrunk by ``pixels`` (a square neighbourhood)."""
    inside = torch.from_numpy(mask).float()[:, None]
    outside = torch.nn.functional.max_pool2d(1 - inside, 2 * pixels + 1, 1, pixels)
    return (outside[:, 0] == 0).numpy()


def composites(samples, model, light: float | None) -> tuple[np.ndarray, np.ndarray]:
    """The sample's first 8 frames over red (uint8 [8, H, W, 3]) and their alpha [8, H, W]."""
    rgb = np.stack([f.rgb for _, f in zip(range(8), read_frames(samples["talk"]), strict=False)])
    red = open_background(ColourSpec(RED), 144, 176, model.device)
    session = MattingSession(model, 0.5)
    out, alpha = [], []
    with torch.inference_mode():
        for matted in matte_batches(session, batches_of(rgb, 4)):
            host = finish(matted, {"rgb", "matte"}, red, [0.0] * 4, light)
            out.append(host.rgb)
            alpha.append(host.matte)
    return np.concatenate(out), np.concatenate(alpha)


@pytest.mark.slow
def test_light_wrap_lights_the_edge_band_only(samples, model):
    plain, alpha = composites(samples, model, None)
    wrapped, _ = composites(samples, model, 0.8)
    person = alpha == 255
    deep = eroded(person, 8)  # more than 3 sigma (1.6 px at 144 lines, 5 taps) inside
    room = eroded(alpha == 0, 2)
    band = person & ~eroded(person, 4)
    edge = person & ~eroded(person, 1)
    difference = np.abs(wrapped.astype(int) - plain.astype(int))
    assert deep.sum() > 1000 and band.sum() > 1000
    assert difference[deep].max() <= 1  # nothing changes deep inside the person
    assert difference[room].max() == 0  # nor in the background
    red_gain = wrapped[..., 0].astype(int) - plain[..., 0]
    assert red_gain[edge].mean() > 15  # the red background lights the edge
    assert red_gain[edge].mean() > 2 * red_gain[band & ~edge].mean() > 1  # fading inward
    assert red_gain[band].min() >= 0  # screened: it only brightens


def test_light_wrap_needs_a_new_background():
    for background in (None, "blur", "blur:12"):
        with pytest.raises(bgrm.UsageError, match="light_wrap"):
            bgrm.Job("talk.mp4", background=background, light_wrap=0.5)
    with pytest.raises(bgrm.UsageError, match=r"\(0, 1\]"):
        bgrm.Job("talk.mp4", background="white", light_wrap=1.5)


@pytest.mark.slow
def test_the_grayscale_room_loses_its_colour_and_the_person_keeps_his(
    samples, weights_file, tmp_path
):
    out = tmp_path / "gray.mp4"
    done = cli("process", str(samples["talk"]), "--bg", "grayscale", "-o", str(out), "-q",
               "--downsample", "0.5", "--light-wrap")  # fmt: skip
    assert done.returncode == 0, done.stderr
    _, source = video_frames(samples["talk"])
    _, result = video_frames(out)

    def colour(pixels: np.ndarray) -> np.ndarray:
        """How far each pixel is from gray."""
        pixels = pixels.astype(int)
        return np.abs(pixels - pixels.mean(axis=-1, keepdims=True)).max(axis=-1)

    seat = (slice(None), slice(60, 110), slice(0, 25))  # blue and white stripes, now gray
    assert np.percentile(colour(result[seat]), 99) <= 4
    assert np.percentile(colour(source[seat]), 99) > 30  # it was blue
    lower = (slice(None), slice(90, 144))  # the red bow tie, wherever it is, keeps its red
    tie = source[lower][..., 0].astype(int) - source[lower][..., 2] > 60
    assert tie.sum() > 500
    assert (result[lower][..., 0].astype(int) - result[lower][..., 2])[tie].mean() > 30
    chest = (slice(None), slice(110, 140), slice(60, 120))
    assert np.abs(result[chest].astype(int) - source[chest]).mean() < 6


@pytest.mark.slow
def test_a_preview_is_a_small_fraction_of_the_run_and_has_its_layout(samples, model, tmp_path):
    """A minute of video: three moments, each warmed up on its own two seconds."""
    clip = loop_clip(samples["talk"], tmp_path / "minute.mp4", times=15)  # 1800 frames
    at = [5.0, 30.0, 55.0]
    started = time.perf_counter()
    sheet = bgrm.preview(
        clip, tmp_path / "sheet.png", at=at, background="white", downsample=0.5, model=model
    )
    preview_s = time.perf_counter() - started

    job = bgrm.Job(clip, tmp_path / "run.mp4", background="white", downsample=0.5)
    six_seconds = round(180 * 1001 / 30000 / probe(clip).time_base)
    tenth = bgrm.parts.Part(index=0, count=1, start_pts=None, end_pts=six_seconds)  # 180 frames
    started = time.perf_counter()
    bgrm.parts.run_part(job, tenth, tmp_path / "parts", model=model)
    whole_s = (time.perf_counter() - started) * 10
    assert preview_s < 0.3 * whole_s, (preview_s, whole_s)

    panel_h, panel_w = 144, round(176 * probe(clip).sample_aspect)  # the display aspect
    assert sheet.size == (3 * panel_w, 3 * (22 + panel_h))
    assert Image.open(tmp_path / "sheet.png").size == sheet.size
    frames = [f.rgb for f in read_frames(samples["talk"])]
    pixels = np.asarray(sheet).astype(int)
    for row, seconds in enumerate(at):
        top = row * (22 + panel_h)
        assert pixels[top : top + 22].max() > 200  # the time is written there
        original = pixels[top + 22 : top + 22 + panel_h, :panel_w]
        shown = math.ceil(seconds * 30000 / 1001) % 120  # the first frame at or after it

        def distance(index: int, original=original) -> float:
            frame = Image.fromarray(frames[index]).resize((panel_w, panel_h), Image.LANCZOS)
            return float(np.abs(original - np.asarray(frame).astype(int)).mean())

        assert min(range(120), key=distance) == shown  # the frame of that moment
        matte = pixels[top + 22 : top + 22 + panel_h, panel_w : 2 * panel_w]
        assert matte[110:140, 70:130].mean() > 240 and matte[2:20, 2:40].mean() < 15
        result = pixels[top + 22 : top + 22 + panel_h, 2 * panel_w :]
        assert result[2:20, 2:40].mean() > 240  # the white background


@pytest.mark.slow
def test_a_batch_survives_a_bad_file_and_a_rerun_skips_what_is_done(
    samples, weights_file, tmp_path
):
    inputs = tmp_path / "recordings"
    (inputs / "old").mkdir(parents=True)
    for name in ("a.mp4", "old/a.mp4"):  # the same name twice
        (inputs / name).write_bytes(samples["talk"].read_bytes())
    cut(samples["talk"], inputs / "b.mp4", 0.3)  # cut before its index: unreadable
    out = tmp_path / "out"
    args = ["-o", str(out), "--bg", "#1e1e1e", "--downsample", "0.25"]

    done = cli("process", str(inputs), "-r", *args)
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("bgrm: error: ")]
    assert len(errors) == 1 and str(inputs / "b.mp4") in errors[0]
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == ["a.bgrm.mp4", "old/a.bgrm.mp4"]  # the subfolder kept: no collisions
    lines = done.stderr.splitlines()
    table = lines[next(i for i, line in enumerate(lines) if line.startswith("file ")) :]
    assert table[0].split() == ["file", "frames", "seconds", "frames/s", "result"]
    assert [row.split()[1] for row in table[1:]] == ["120", "-", "120"]
    assert len(video_frames(out / "old" / "a.bgrm.mp4")[0]) == 120

    items = bgrm.process_many([inputs], out, skip_existing=True, background="white")
    assert [(i.input.name, i.skipped, i.error is not None) for i in items] == [
        ("a.mp4", True, False),
        ("b.mp4", False, True),
    ]
    assert isinstance(items[1].error, bgrm.InputError)

    (inputs / "b.mp4").write_bytes(samples["talk"].read_bytes())  # the bad file replaced
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.mp4")}
    again = cli("process", str(inputs), "-r", "--skip-existing", *args)
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("bgrm: skipped: ") == 2  # said per file
    after = {p: p.stat().st_mtime_ns for p in out.rglob("*.mp4")}
    assert {path: after[path] for path in before} == before  # nothing done touched
    assert sorted(after) == sorted([*before, out / "b.bgrm.mp4"])  # only what was missing

    alone = cli("process", str(inputs), "--skip-existing", *args)  # old/ is not searched
    assert str(inputs / "old") not in alone.stderr and "[1/2]" in alone.stderr


def test_several_inputs_need_a_folder_for_output(samples, tmp_path):
    done = cli("process", str(samples["talk"]), str(samples["talk"]), "-o", str(tmp_path / "x.mp4"))
    assert done.returncode == 2 and "names a folder" in done.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_light_wrap_takes_an_optional_strength(samples, weights_file, tmp_path):
    for args in (
        ["--light-wrap", str(samples["talk"])],
        [str(samples["talk"]), "--light-wrap", "0.3"],
    ):
        done = cli("process", *args, "--bg", "blur", "-o", str(tmp_path / "x.mp4"))
        assert done.returncode == 2, done.stderr
        assert "--light-wrap needs a new background" in done.stderr
    assert not Path(tmp_path / "x.mp4").exists()
