"""One recording in parts, with the library: plan, run each part, join; against one pass.

The queue's side (parts on several real workers, a worker killed mid-part, cancel) is in
tests/test_queue.py.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import bgrm
from bgrm.media.decode import read_frames
from bgrm.media.probe import probe
from tests.media import (
    assert_audio_copied,
    audio_packets,
    gray_frames,
    make_clip,
    matte_agreement,
    rgba_frames,
    video_frames,
)

PREROLL = 1.0  # shorter than the default, so the 4 s sample really has seams to check


def split_run(job: bgrm.Job, model: bgrm.Model, count: int, in_order: bool = False) -> bgrm.Result:
    """Plan, run every part (last first, as parallel workers may: each warms up), join."""
    parts = bgrm.parts.plan_parts(job, count=count, preroll=PREROLL)
    folder = bgrm.parts.parts_folder(job, "test")
    for part in parts if in_order else reversed(parts):
        bgrm.parts.run_part(job, part, folder, model=model)
    result = bgrm.parts.join_parts(job, parts, folder)
    assert not folder.exists()
    return result


def test_parts_hold_every_frame_exactly_once(tmp_path):
    """A variable frame rate starting late: cut by time, each frame belongs to one part."""
    gaps = [1001, 2002, 990, 3003, 1020, 1001, 6006] * 20  # 10 s
    pts = [int(p) for p in np.cumsum([3000, *gaps])]
    clip = make_clip(tmp_path / "vfr.mp4", vfr_pts=pts, audio=False)
    for plan in ({"count": 4}, {"seconds": 2.5}):
        parts = bgrm.parts.plan_parts(bgrm.Job(clip), **plan, preroll=0.5)
        assert [part.index for part in parts] == list(range(len(parts)))
        assert parts[0].start_pts is None and parts[-1].end_pts is None
        owners = [[part.index for part in parts if part.owns(p)] for p in pts]
        assert all(len(owner) == 1 for owner in owners)
        assert [owner[0] for owner in owners] == sorted(owner[0] for owner in owners)
        for part in parts[1:]:
            assert part.warmup_pts == max(3000, part.start_pts - 15000)  # 0.5 s before
            assert bgrm.parts.Part.from_json(part.to_json()) == part
    duration = probe(clip).duration_s
    assert len(bgrm.parts.plan_parts(bgrm.Job(clip), seconds=2.5)) == math.ceil(duration / 2.5)
    with pytest.raises(bgrm.UsageError, match="not both"):
        bgrm.parts.plan_parts(bgrm.Job(clip), count=2, seconds=3)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("alpha", "name"),
    [(None, "out.mp4"), (None, "out.mkv"), (None, "out.webm"), ("prores", "out.mov")],
)
def test_a_split_video_is_the_single_pass_with_invisible_seams(
    samples, model, tmp_path, alpha, name
):
    """Three parts of the sample, joined: the input's frames, times and audio, and the same
    matte as one pass within 0.5/255 on average and 2/255 on the worst frame."""
    outputs = {}
    for how in ("single", "split"):
        folder = tmp_path / how
        folder.mkdir()
        job = bgrm.Job(
            samples["talk"],
            folder / name,
            alpha=alpha,
            matte=folder / "matte.mkv",
            downsample=0.5,
        )
        if how == "single":
            bgrm.run(job, model=model)
        else:
            result = split_run(job, model, 3)
            assert (result.frames, result.output) == (120, job.output_path())
        outputs[how] = folder
    source_times, _ = video_frames(samples["talk"])
    tolerance = 5e-4 + 1e-9 if name.endswith((".mkv", ".webm")) else 1e-6
    split_times = rgba_frames(outputs["split"] / name)[1] if alpha else None
    if split_times is None:
        split_times, _ = video_frames(outputs["split"] / name)
    assert split_times == pytest.approx(source_times, abs=tolerance)
    assert audio_packets(outputs["split"] / name) == audio_packets(outputs["single"] / name)
    if not name.endswith(".webm"):  # the AAC track copied packet for packet
        assert_audio_copied(outputs["split"] / name, samples["talk"], tolerance)
    mean, worst = matte_agreement(outputs["split"] / "matte.mkv", outputs["single"] / "matte.mkv")
    assert mean <= 0.5 and worst <= 2
    assert sorted(p.name for p in outputs["split"].iterdir()) == sorted([name, "matte.mkv"])


@pytest.mark.slow
def test_webm_alpha_and_png_frames_join(samples, model, tmp_path):
    webm = bgrm.Job(samples["talk"], tmp_path / "alpha.webm", alpha="webm", downsample=0.5)
    split_run(webm, model, 2)
    formats, times, rgba = rgba_frames(tmp_path / "alpha.webm", decoder="libvpx-vp9")
    assert formats == ["yuva420p"] and len(times) == 120  # the alpha survived the join
    assert rgba[:, 2:20, 2:40, 3].mean() < 5  # the car's ceiling stays transparent

    folder = tmp_path / "frames"
    png = bgrm.Job(samples["talk"], folder, alpha="png", downsample=0.5)
    split_run(png, model, 3)
    sidecar = json.loads((folder / "frames.json").read_text())
    source_times, _ = video_frames(samples["talk"])
    assert [f["file"] for f in sidecar["frames"]] == [f"frame_{i:06d}.png" for i in range(120)]
    assert [f["time"] for f in sidecar["frames"]] == pytest.approx(source_times, abs=1e-9)
    assert sidecar["audio"] == "audio.m4a"
    assert audio_packets(folder / "audio.m4a") == audio_packets(samples["talk"])
    assert len(list(folder.glob("frame_*.png"))) == 120


@pytest.mark.slow
def test_a_part_holds_only_its_frames_and_marks_itself_done(samples, model, tmp_path):
    job = bgrm.Job(samples["talk"], tmp_path / "out.mp4", downsample=0.5)
    middle = bgrm.parts.plan_parts(job, count=3, preroll=PREROLL)[1]
    folder = Path(bgrm.parts.parts_folder(job, "one"))
    progress = []
    result = bgrm.parts.run_part(
        job, middle, folder, model=model, on_progress=lambda *p: progress.append(p)
    )
    assert result.frames == 40 and progress[-1] == (40, 40)
    written = [frame.pts for frame in read_frames(folder / "part-0001.0.mp4")]
    assert written == [i * 1001 for i in range(40, 80)]
    assert sorted(p.name for p in folder.iterdir()) == ["part-0001.0.mp4", "part-0001.json"]
    cold = bgrm.parts.plan_parts(job, count=3, preroll=0)[1]  # no warm-up: still only its frames
    assert cold.warmup_pts is None
    bgrm.parts.run_part(job, cold, tmp_path / "cold", model=model)
    assert [f.pts for f in read_frames(tmp_path / "cold" / "part-0001.0.mp4")] == written
    with pytest.raises(bgrm.OutputError, match=r"parts \[0, 2\] of the split job are not finished"):
        bgrm.parts.join_parts(job, bgrm.parts.plan_parts(job, count=3), folder)
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.slow
def test_parts_run_in_order_resume_the_state_and_equal_one_pass_exactly(samples, model, tmp_path):
    """A part whose predecessor finished first carries on from its state (no warm-up): the
    matte is the single pass's, bit for bit. Run last first, the parts warm up instead."""
    mattes = {}
    for how in ("single", "in order", "last first"):
        folder = tmp_path / how
        folder.mkdir()
        job = bgrm.Job(
            samples["talk"], folder / "out.mp4", matte=folder / "matte.mkv", downsample=0.5
        )
        if how == "single":
            bgrm.run(job, model=model)
        else:
            split_run(job, model, 3, in_order=how == "in order")
        mattes[how] = gray_frames(folder / "matte.mkv")[1]
        assert sorted(p.name for p in folder.iterdir()) == ["matte.mkv", "out.mp4"]
    assert mattes["in order"].shape == (120, 144, 176)
    assert np.array_equal(mattes["in order"], mattes["single"])
    assert not np.array_equal(mattes["last first"], mattes["single"])


def test_parts_warm_up_from_the_first_frame_by_default(samples):
    """Without a pre-roll every part after the first warms up from the first frame (at run
    time from the nearest exact state another part left): its state is the single pass's."""
    parts = bgrm.parts.plan_parts(bgrm.Job(samples["talk"]), count=4)
    assert [part.warmup_pts for part in parts] == [None, 0, 0, 0]


def test_a_selfie_part_warms_up_cold_over_the_seconds_its_smoothing_needs(tmp_path):
    """The selfie model's smoothing settles from a cold start (bench/seam.py: no frame off at
    5 s), so its parts warm up over 5 s before their start, not from the first frame."""
    clip = make_clip(tmp_path / "long.mp4", frames=360, rate=Fraction(30), audio=False)
    parts = bgrm.parts.plan_parts(bgrm.Job(clip, model="selfie"), count=3)  # 4 s each
    time_base = probe(clip).time_base
    starts = [None if p.warmup_pts is None else float(p.warmup_pts * time_base) for p in parts]
    assert starts == [None, 0.0, 3.0]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["rvm", "selfie"])
def test_parts_warm_up_from_the_nearest_exact_state_and_equal_one_pass(
    samples, model, tmp_path, name
):
    """Parts run out of order at default settings: each warms up only from the latest state
    left at a boundary before it (by a part's end, or by a part's start once its own warm-up
    was done), else from the first frame; every matte is the single pass's, bit for bit, for
    both models (the selfie model's smoothing is its state)."""
    loaded = model if name == "rvm" else bgrm.load_model("cpu", model=name)
    mattes = {}
    for how in ("single", "split"):
        folder = tmp_path / how
        folder.mkdir()
        job = bgrm.Job(samples["talk"], folder / "out.mp4", matte=folder / "matte.mkv", model=name)
        if how == "single":
            bgrm.run(job, model=loaded)
        else:
            parts = bgrm.parts.plan_parts(job, count=4)  # 30 frames each
            work = Path(bgrm.parts.parts_folder(job, "nearest"))
            warmups = {}
            for index in (2, 3, 1, 0):
                if index == 3:  # as if part 2 still ran: only the state at its start is left
                    (work / "part-0002.state").unlink()
                result = bgrm.parts.run_part(job, parts[index], work, model=loaded)
                warmups[index] = result.warmup_frames
            # part 2 from the first frame; 3 from part 2's start; 1 from the first frame
            assert warmups == {2: 60, 3: 30, 1: 30, 0: 0}
            bgrm.parts.join_parts(job, parts, work)
        mattes[how] = gray_frames(folder / "matte.mkv")[1]
    assert mattes["split"].shape == (120, 144, 176)
    assert np.array_equal(mattes["split"], mattes["single"])
