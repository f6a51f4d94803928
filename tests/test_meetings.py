"""Recorded meetings: cuts found on the way, the model afresh at each, screens kept as recorded.

The recordings are made from the real sample (a man talking in a car, 176x144): camera ->
slide -> camera (a made slide: title bar, chart, text), two speakers cut together (the sample
and its mirror image), and one continuous shot that a person walks out of (the sample's man
cut out by the model, over a still street from bikes.mp4). They are encoded losslessly, so a
clip that starts at a shot decodes to exactly that shot's frames: "a fresh start".
"""

from __future__ import annotations

import colorsys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import bgrm
from bgrm.batches import Batch, batches_of
from bgrm.composite import from_uint8_hwc
from bgrm.cuts import CutDetector, detector_frames, hsv_of
from bgrm.matting.session import Matted
from bgrm.shots import PERSON, judged
from tests.conftest import bgrm as run_bgrm
from tests.media import (
    encode_frames,
    gray_frames,
    slide_frame,
    video_frames,
    walk_out_frames,
)

SHOT = 45
"""Frames per shot of the made recordings (1.5 s: longer than the look-ahead of 30)."""

GREEN = "#00ff00"

STREET = 150
"""A frame of bikes.mp4 without a person: a street behind a railing."""


@pytest.fixture(scope="module")
def talk(samples) -> np.ndarray:
    """The sample's 120 frames, uint8 [120, 144, 176, 3]."""
    return video_frames(samples["talk"])[1]


@pytest.fixture(scope="module")
def clips(talk, tmp_path_factory) -> dict[str, Path]:
    """meeting: camera -> slide -> camera; camera_again: its third shot alone; speakers: the
    sample then its mirror image; second_speaker: the mirror image's shot alone."""
    folder = tmp_path_factory.mktemp("meetings")
    height, width = talk.shape[1:3]
    slide = [slide_frame(width, height)] * SHOT
    mirrored = talk[:, :, ::-1]
    return {
        "meeting": encode_frames(folder / "meeting.mp4", [*talk[:SHOT], *slide, *talk[SHOT:90]]),
        "camera_again": encode_frames(folder / "camera_again.mp4", list(talk[SHOT:90])),
        "speakers": encode_frames(folder / "speakers.mp4", [*talk[:60], *mirrored[60:]]),
        "second_speaker": encode_frames(folder / "second.mp4", list(mirrored[60:])),
    }


def _starts(frames: np.ndarray, size: int) -> list[int]:
    """The frames the detector starts a shot at, fed in batches of ``size``."""
    detector = CutDetector()
    found = []
    for batch in batches_of(frames, size):
        src = from_uint8_hwc(torch.from_numpy(np.ascontiguousarray(batch.rgb)))
        found += [batch.pts[0] + index for index in detector.starts(detector_frames(src))]
    return found


def test_no_cut_is_found_in_a_talking_head_played_on_and_back(talk):
    """The sample, looped forward (a jump at each loop) and played forwards and backwards: one
    shot from the first frame."""
    assert _starts(talk, 16) == [0]
    assert _starts(np.concatenate([talk] * 3), 16) == [0]
    assert _starts(np.concatenate([talk, talk[::-1], talk]), 16) == [0]


def test_cuts_fall_on_the_first_frame_of_each_shot_whatever_the_batch(talk):
    height, width = talk.shape[1:3]
    meeting = np.concatenate(
        [talk[:SHOT], np.stack([slide_frame(width, height)] * SHOT), talk[SHOT:90]]
    )
    for size in (1, 7, 16, 64):
        assert _starts(meeting, size) == [0, SHOT, 2 * SHOT]
    speakers = np.concatenate([talk[:60], talk[60:, :, ::-1]])
    assert _starts(speakers, 8) == [0, 60]


def test_a_cut_sooner_than_the_shortest_shot_is_not_one(talk):
    """A flash of another picture for a few frames is not two cuts (PySceneDetect's minimum
    scene length of 15 frames): the cut into it counts, the one back does not."""
    flash = np.concatenate([talk[:30], talk[30:35, :, ::-1], talk[35:60]])
    assert _starts(flash, 8) == [0, 30]


def test_hue_saturation_and_value_are_opencvs_8_bit_scales():
    rng = np.random.default_rng(1)
    rgb = rng.random((50, 3)).astype(np.float32)
    rgb[:5] = [[0.5, 0.5, 0.5], [0, 0, 0], [1, 0, 0], [0, 1, 1], [0.2, 0.2, 0.9]]
    hsv = hsv_of(torch.from_numpy(rgb).T[None, :, :, None])[0, :, :, 0].T.numpy()
    for (r, g, b), (h, s, v) in zip(rgb, hsv, strict=True):
        eh, es, ev = colorsys.rgb_to_hsv(r, g, b)
        assert (h, s, v) == pytest.approx((eh * 180 % 180, es * 255, ev * 255), abs=1e-3)


def _matted(coverage: list[float], new_shot: bool) -> Matted:
    """A batch through the model as the judge sees it: only its frames' coverage counts."""
    count = len(coverage)
    batch = Batch(np.zeros((count, 2, 2, 3), np.uint8), list(range(count)))
    a = torch.zeros(count, 1, 2, 2)
    return Matted(batch, None, a, a, coverage, new_shot)


@pytest.mark.parametrize("size", [1, 4, 7, 30])
def test_a_shot_is_judged_on_its_first_frames_whatever_the_batch(size):
    """A shot without a person for the look-ahead is passed through even if someone comes in
    later; a person at its start decides at once; a short shot is judged on what it has."""
    shots = [
        [0.4] * 50,  # a camera
        [0.0] * 30 + [0.5] * 20,  # a slide, then someone comes in: judged on the slide
        [0.0] * 10,  # a short empty shot
        [PERSON * 3] * 5 + [0.0] * 10,  # a short shot with a little of someone: a person
    ]
    stream = []
    for coverage in shots:
        for start in range(0, len(coverage), size):
            stream.append(_matted(coverage[start : start + size], new_shot=start == 0))
    verdicts = []
    for matted, passed in judged(stream, "keep", lookahead=30):
        if matted.new_shot:
            verdicts.append(passed)
    assert verdicts == [False, True, True, False]
    assert not any(passed for _, passed in judged(stream, "replace", lookahead=30))


def test_screens_is_checked_and_travels_with_the_job():
    assert bgrm.Job(input="a.mp4").screens == "keep"
    job = bgrm.Job(input="a.mp4", screens="replace")
    assert bgrm.Job.from_json(job.to_json()) == job
    with pytest.raises(bgrm.UsageError, match="`screens` must be one of keep, replace"):
        bgrm.Job(input="a.mp4", screens="drop")


def _difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean |a - b| of each frame, in 1/255."""
    return np.abs(a.astype(int) - b.astype(int)).reshape(len(a), -1).mean(axis=1)


def _worst(a: np.ndarray, b: np.ndarray) -> int:
    """The largest |a - b| of any pixel, in 1/255."""
    return int(np.abs(a.astype(int) - b.astype(int)).max())


def _room(frames: np.ndarray) -> np.ndarray:
    """The mean colour of the car's ceiling (top left) over ``frames``."""
    return frames[:, 2:20, 2:40].reshape(-1, 3).mean(axis=0)


def _through_rvm(model, clip, out, **options) -> bgrm.Result:
    """``clip`` through RVM as these tests run it: at downsample 0.5 (to fit the test timeout),
    the eager tail, the matte beside ``out`` when asked for."""
    return bgrm.process(clip, out, downsample=0.5, compile="off", model=model, **options)


@pytest.mark.slow
def test_a_slide_between_two_camera_shots_comes_out_as_it_went_in(clips, model, tmp_path):
    """RVM: the slide's frames are the input's, the camera's have the new background, and the
    matte after the cut back is that of a clip starting there (a cut inside a batch of 7)."""
    result = _through_rvm(
        model,
        clips["meeting"],
        tmp_path / "out7.mp4",
        background=GREEN,
        matte=tmp_path / "matte7.mkv",
        batch=7,
    )
    fresh = _through_rvm(
        model,
        clips["camera_again"],
        tmp_path / "fresh.mp4",
        background=GREEN,
        matte=tmp_path / "fresh.mkv",
    )
    assert [shot.passed_through for shot in result.shots] == [False, True, False]
    assert [shot.frames for shot in result.shots] == [SHOT] * 3
    assert [shot.start for shot in result.shots] == pytest.approx([0, 1.5015, 3.003])
    assert result.shots[-1].end == pytest.approx(4.5045)
    assert any("3 shots" in line and "1 without a person" in line for line in result.notices)
    assert fresh.shots == [bgrm.Shot(0.0, pytest.approx(1.5015), SHOT, False)]

    _, source = video_frames(clips["meeting"])
    _, out = video_frames(tmp_path / "out7.mp4")
    slide = slice(SHOT, 2 * SHOT)
    assert _difference(out[slide], source[slide]).max() < 4
    for camera in (out[:SHOT], out[2 * SHOT :]):
        assert _room(camera) == pytest.approx([0, 255, 0], abs=6)
    _, matte = gray_frames(tmp_path / "matte7.mkv")
    _, again = gray_frames(tmp_path / "fresh.mkv")
    assert (matte[slide] == 255).all()  # opaque: the slide is the foreground
    assert _worst(matte[2 * SHOT :], again) <= 1  # every pixel


@pytest.mark.slow
def test_the_batch_size_never_moves_a_cut_or_changes_the_matte(clips, model):
    """Cuts inside a batch (7: at frames 45 and 90) or on its edge (15): the same alphas."""
    alphas = {
        size: np.stack(
            [
                f.alpha
                for f in bgrm.mattes(clips["meeting"], batch=size, downsample=0.5, model=model)
            ]
        )
        for size in (7, 15)
    }
    assert _worst(alphas[7], alphas[15]) <= 1


@pytest.mark.slow
def test_the_selfie_models_smoothing_starts_afresh_and_a_slide_is_opaque(clips, tmp_path):
    """The selfie model, alpha as PNG frames: the slide's frames are the input's exactly,
    opaque; the camera's room is transparent; after the cut its smoothing starts afresh."""
    selfie = bgrm.load_model("cpu", model="selfie")
    bgrm.process(clips["meeting"], tmp_path / "frames", alpha="png", model=selfie)
    _, source = video_frames(clips["meeting"])
    pngs = sorted((tmp_path / "frames").glob("*.png"))
    rgba = np.stack([np.asarray(Image.open(png)) for png in pngs])
    slide = slice(SHOT, 2 * SHOT)
    assert (rgba[slide, ..., 3] == 255).all()
    assert (rgba[slide, ..., :3] == source[slide]).all()
    assert rgba[:SHOT, 2:20, 2:40, 3].mean() < 5  # the car's ceiling: transparent
    bgrm.process(clips["camera_again"], tmp_path / "fresh", alpha="png", model=selfie)
    fresh = sorted((tmp_path / "fresh").glob("*.png"))
    again = np.stack([np.asarray(Image.open(png)) for png in fresh])
    assert _worst(rgba[2 * SHOT :, ..., 3], again[..., 3]) <= 1  # every pixel


@pytest.mark.slow
def test_two_speakers_cut_together_each_start_afresh(clips, model, tmp_path):
    """Two camera shots: both replaced, and the second one's matte is a fresh start's."""
    result = _through_rvm(
        model, clips["speakers"], tmp_path / "o.mp4", background=GREEN, matte=tmp_path / "m.mkv"
    )
    _through_rvm(
        model, clips["second_speaker"], tmp_path / "fresh.mp4", matte=tmp_path / "fresh.mkv"
    )
    assert [(shot.frames, shot.passed_through) for shot in result.shots] == [
        (60, False),
        (60, False),
    ]
    _, out = video_frames(tmp_path / "o.mp4")
    assert _room(out[:60]) == pytest.approx([0, 255, 0], abs=6)
    _, matte = gray_frames(tmp_path / "m.mkv")
    _, fresh = gray_frames(tmp_path / "fresh.mkv")
    assert _worst(matte[60:], fresh) <= 1  # every pixel


@pytest.mark.slow
def test_a_person_walking_out_of_a_shot_leaves_a_room_that_is_still_replaced(
    samples, talk, model, tmp_path
):
    """One continuous shot: the man stands, walks out, the street stays empty. No cut is
    found, and the empty street still gets the new background."""
    first = next(iter(bgrm.mattes(samples["talk"], model=model)))
    height, width = talk.shape[1:3]
    street = np.asarray(
        Image.fromarray(video_frames(samples["bikes"])[1][STREET]).resize((width, height))
    )
    frames = walk_out_frames(first.image, first.alpha, street)
    clip = encode_frames(tmp_path / "walk.mp4", frames)
    result = _through_rvm(model, clip, tmp_path / "o.mp4", background=GREEN)
    assert [(shot.frames, shot.passed_through) for shot in result.shots] == [(95, False)]
    _, out = video_frames(tmp_path / "o.mp4")
    empty = out[-30:].reshape(-1, 3).mean(axis=0)
    assert empty == pytest.approx([0, 255, 0], abs=8)


@pytest.mark.slow
def test_screens_replace_keeps_todays_behaviour_from_the_command_line(clips, tmp_path):
    out = tmp_path / "o.mp4"
    done = run_bgrm(
        "process", str(clips["meeting"]), "-o", str(out), "--bg", GREEN, "--model", "selfie",
        "--screens", "replace",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "3 shots (the model started afresh at each cut)" in done.stderr
    _, frames = video_frames(out)
    assert _room(frames[SHOT : 2 * SHOT]) == pytest.approx([0, 255, 0], abs=6)  # the slide too
    done = run_bgrm("process", str(clips["meeting"]), "--screens", "drop", "-o", str(out), "-y")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "bgrm: error: --screens must be one of keep, replace, got 'drop'"
    ]


@pytest.mark.slow
def test_the_preview_marks_a_moment_kept_as_recorded(clips):
    """A moment on the slide: the result panel is the original, and the row says so in
    yellow; a moment on the camera: no mark."""
    selfie = bgrm.load_model("cpu", model="selfie")
    picture = bgrm.preview(clips["meeting"], at=[0.5, 2.0], model=selfie, background=GREEN)
    sheet = np.asarray(picture)
    row = sheet.shape[0] // 2
    width = sheet.shape[1] // 3
    label, panels = sheet[row : row + 22], sheet[row + 22 :]
    assert _yellow(label).any()
    assert _difference(panels[None, :, 2 * width :], panels[None, :, :width]).max() < 1
    assert not _yellow(sheet[:22]).any()


def _yellow(picture: np.ndarray) -> np.ndarray:
    """Where ``picture`` [H, W, 3] is yellowish (the mark's text, antialiased over gray)."""
    r, g, b = (picture[..., channel].astype(int) for channel in range(3))
    return (r > 150) & (g > 120) & (b < r - 70)
