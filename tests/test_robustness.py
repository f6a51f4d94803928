"""Odd and broken inputs: each gives a correct result, or one clear line and nothing left behind.

Real files only, made here with PyAV or cut from the real sample clip. The success cases run the
library in-process (faster); the error cases run `bgrm process` as a user does, to check the
exit code, the single stderr line and the files left in the output folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from fractions import Fraction
from pathlib import Path
from unittest import mock

import av
import numpy as np
import pytest

from bgrm import pipeline
from bgrm.matting import session
from bgrm.media.decode import DecodeReport, read_frames
from bgrm.media.probe import probe
from bgrm.resources import GIB, plan_batch
from tests.conftest import BGRM, assert_one_line_error, bgrm, cpu_seconds, leftovers, wait_for
from tests.media import (
    add_side_streams,
    cut,
    damage_packets,
    encode_frames,
    make_clip,
    remux,
    video_frames,
)


def run(source: Path, output: Path, **options) -> tuple[pipeline.Result, list[str]]:
    """Process ``source`` in-process over white at downsample 0.25; returns result and notices.
    The made clips have no person: their background is replaced all the same (``screens``)."""
    notices: list[str] = []
    settings = {"background": "white", "downsample": 0.25, "screens": "replace", **options}
    return pipeline.process(source, output, on_notice=notices.append, **settings), notices


def decodable_frames(path: Path) -> int:
    return sum(1 for _ in read_frames(path))


def streams_of(path: Path) -> list[tuple[str, str | None, str | None]]:
    """(type, codec, language) of every stream."""
    with av.open(str(path)) as container:
        return [
            (s.type, s.codec_context.name if s.codec_context else None, s.metadata.get("language"))
            for s in container.streams
        ]


def payloads(path: Path, kind: str, index: int = 0) -> list[bytes]:
    with av.open(str(path)) as container:
        stream = getattr(container.streams, kind)[index]
        return [bytes(p) for p in container.demux(stream) if p.size]


def cues(path: Path) -> list[bytes]:
    """The subtitle packets that hold text (the mp4 muxer adds empty ones between cues)."""
    return [p for p in payloads(path, "subtitles") if p != b"\x00\x00"]


# --- inputs that must give a correct result ---------------------------------------------------


def test_rotated_phone_video_is_turned_upright(samples, weights_file, tmp_path):
    """A clip stored sideways with a display rotation comes out upright, untagged, size swapped.

    The stored frames are the talk clip turned a quarter counter-clockwise; the tag (-90, as
    phones write it) turns them back for display. So the model must see the talk clip itself,
    and the result must match processing the talk clip directly.
    """
    _, talk = video_frames(samples["talk"])
    talk = talk[:12]
    sideways = encode_frames(tmp_path / "phone.mp4", [np.rot90(f, 1) for f in talk], rotation=-90)
    info = probe(sideways)
    assert (info.width, info.height, info.rotation) == (176, 144, 270)
    upright = np.stack([f.rgb for f in read_frames(sideways)])
    assert upright.shape == talk.shape and np.abs(upright.astype(int) - talk).mean() < 2

    straight = encode_frames(tmp_path / "straight.mp4", list(talk))
    run(sideways, tmp_path / "phone.out.mp4", background="#1e1e1e", downsample="0.5")
    run(straight, tmp_path / "straight.out.mp4", background="#1e1e1e", downsample="0.5")
    _, phone_out = video_frames(tmp_path / "phone.out.mp4")
    _, straight_out = video_frames(tmp_path / "straight.out.mp4")
    assert phone_out.shape == (12, 144, 176, 3)
    assert np.abs(phone_out.astype(int) - straight_out).mean() < 2
    with av.open(str(tmp_path / "phone.out.mp4")) as container:
        first = next(container.decode(video=0))
        assert first.rotation == 0  # pixels turned, no display matrix left


@pytest.mark.slow
def test_odd_size_end_to_end(weights_file, tmp_path):
    source = make_clip(tmp_path / "odd.mkv", size=(175, 143), frames=10, codec="ffv1")
    out = tmp_path / "odd.out.mp4"
    done = bgrm("process", str(source), "-o", str(out), "--bg", "white", "--downsample", "0.5")
    assert done.returncode == 0, done.stderr
    assert "175x143 is odd, padded to 176x144" in done.stderr
    times, frames = video_frames(out)
    assert frames.shape == (10, 144, 176, 3)
    assert times == pytest.approx([float(t) for t in video_frames(source)[0]], abs=1e-6)


@pytest.mark.parametrize(
    ("codec", "pix_fmt"),
    [("libx265", "yuv420p10le"), ("ffv1", "yuv444p"), ("ffv1", "yuv422p10le")],
)
def test_high_bit_depth_and_full_chroma_inputs(weights_file, tmp_path, codec, pix_fmt):
    if codec not in av.codecs_available:
        pytest.skip(f"this PyAV build has no {codec} encoder")
    source = make_clip(
        tmp_path / f"{pix_fmt}.mkv", size=(64, 48), frames=8, codec=codec, pix_fmt=pix_fmt
    )
    with av.open(str(source)) as container:
        assert container.streams.video[0].codec_context.pix_fmt == pix_fmt
    result, _ = run(source, tmp_path / "out.mkv")
    assert result.frames == 8
    times, frames = video_frames(tmp_path / "out.mkv")
    assert frames.shape == (8, 48, 64, 3)
    assert times == pytest.approx(video_frames(source)[0], abs=1e-3)


@pytest.mark.parametrize(
    ("source_suffix", "subtitle", "out_suffix", "kept"),
    [
        (".mkv", "subrip", ".mkv", True),
        (".mkv", "ass", ".mkv", True),
        (".mp4", "mov_text", ".mp4", True),
        (".webm", "webvtt", ".webm", True),
        (".mkv", "subrip", ".mp4", False),
    ],
)
def test_every_audio_track_and_subtitles_are_kept(
    weights_file, tmp_path, source_suffix, subtitle, out_suffix, kept
):
    codec = "libvpx-vp9" if source_suffix == ".webm" else "libx264"
    base = make_clip(tmp_path / f"base{source_suffix}", frames=20, codec=codec)
    source = add_side_streams(
        base, tmp_path / f"in{source_suffix}", languages=("eng", "ger"), subtitle=subtitle
    )
    out = tmp_path / f"out{out_suffix}"
    result, notices = run(source, out)
    assert result.frames == 20
    audio = [s for s in streams_of(out) if s[0] == "audio"]
    assert [language for _, _, language in audio] == ["eng", "ger"]
    for index in (0, 1):
        assert payloads(out, "audio", index) == payloads(source, "audio", index)
    subtitles = [s for s in streams_of(out) if s[0] == "subtitle"]
    if kept:
        assert len(subtitles) == 1 and subtitles[0][2] == "fre"
        assert cues(out) == cues(source) and len(cues(source)) == 3
        assert notices == []
    else:
        assert subtitles == []
        assert any("subtitle track 3" in n and "dropped" in n for n in notices), notices


def test_data_stream_is_dropped_with_a_notice(weights_file, tmp_path):
    source = add_side_streams(
        make_clip(tmp_path / "base.ts", frames=12), tmp_path / "in.ts", data="klv"
    )
    assert [s[0] for s in streams_of(source)] == ["video", "audio", "data"]
    result, notices = run(source, tmp_path / "out.mp4")
    assert result.frames == 12
    assert [s[0] for s in streams_of(tmp_path / "out.mp4")] == ["video", "audio"]
    assert notices == ["data stream 2 (unknown) dropped"]


@pytest.mark.parametrize("container", ["mp4-faststart", "mkv"])
def test_truncated_file_with_index_first_keeps_every_decodable_frame(
    weights_file, tmp_path, container
):
    """A crash cut the file in half; its index (moov first, or Matroska) is intact."""
    clip = make_clip(tmp_path / "clip.mp4", frames=120)
    if container == "mkv":
        whole = remux(clip, tmp_path / "whole.mkv")
    else:
        whole = remux(clip, tmp_path / "whole.mp4", {"movflags": "+faststart"})
    broken = cut(whole, tmp_path / f"cut{whole.suffix}", 0.5)
    decodable = decodable_frames(broken)
    assert 30 < decodable < 90
    result, notices = run(broken, tmp_path / f"out{whole.suffix}")
    assert result.frames == decodable == len(video_frames(result.output)[0])
    missing = [n for n in notices if "truncated or damaged" in n]
    assert len(missing) == 1
    if container == "mkv":  # no frame count in the header: estimated from its duration
        assert f"decoded {decodable} frames, about" in missing[0]
    else:
        assert f"decoded {decodable} of 120 frames" in missing[0]
    assert payloads(result.output, "audio")  # the audio up to the cut is there


def test_damaged_packets_are_skipped_counted_and_the_rest_kept(weights_file, tmp_path):
    whole = remux(
        make_clip(tmp_path / "clip.mp4", frames=40),
        tmp_path / "whole.mp4",
        {"movflags": "+faststart"},
    )
    broken = damage_packets(whole, tmp_path / "broken.mp4", [10, 11, 25])
    report = DecodeReport()
    decodable = sum(1 for _ in read_frames(broken, report=report))
    assert report.bad_packets == 3 and decodable == 37
    result, notices = run(broken, tmp_path / "out.mp4")
    assert result.frames == 37 == len(video_frames(result.output)[0])
    assert f"warning: skipped 3 damaged video packets: {broken}" in notices
    assert any("decoded 37 of 40 frames" in n for n in notices)


def test_batch_plan_fits_large_frames_in_memory():
    """Pure arithmetic on the measured per-pixel cost (see bgrm/memory.py)."""
    assert plan_batch(16, 1080, 1920, 0.27, 64 * GIB).batch == 16
    eight_k = plan_batch(16, 4320, 7680, 512 / 7680, 16 * GIB)
    assert eight_k.batch == 1 and "lowered from 16 to 1" in eight_k.notice
    assert plan_batch(4, 4320, 7680, 1.0, 16 * GIB).notice.startswith("warning:")
    assert plan_batch(4, 4320, 7680, 0.1, None).batch == 4  # unknown memory: as asked


def test_4k_frames_lower_the_batch_and_say_so(weights_file, tmp_path):
    """A real 4K clip; the free memory is set to 6 GiB (a smaller machine than this one)."""
    source = make_clip(tmp_path / "4k.mkv", size=(3840, 2160), frames=1, audio=False)
    with mock.patch.object(session, "free_memory", return_value=6 * GIB):
        result, notices = run(source, tmp_path / "out.mkv", downsample="auto", batch=8)
    assert result.frames == 1
    assert notices[0].startswith("3840x2160 frames at downsample 0.133 need ~1.3 GiB each")
    assert "batch lowered from 8 to 2" in notices[0]
    assert notices[1] == (
        "large 3840x2160 frames: the model sees them at downsample 0.133 (512x288), 2 per batch"
    )


# --- inputs that must give one clear line, a non-zero exit and no output ----------------------


def _zero_frames(path: Path) -> Path:
    """A Matroska file with a video stream that holds no frame (audio only)."""
    from samples.fetch import add_tone_track, write_tone

    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=30)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        sound = add_tone_track(container, "aac")
        write_tone(container, sound, 0, Fraction(1))
        container.mux(sound.encode(None))
    return path


def _audio_only(path: Path) -> Path:
    from samples.fetch import add_tone_track, write_tone

    with av.open(str(path), "w", format="mp4") as container:
        sound = add_tone_track(container, "aac")
        write_tone(container, sound, 0, Fraction(1))
        container.mux(sound.encode(None))
    return path


def _make_input(kind: str, folder: Path, talk: Path) -> Path:
    if kind == "missing":
        return folder / "missing.mp4"
    if kind == "folder":
        (folder / "clips").mkdir()
        return folder / "clips"
    if kind == "random bytes":
        path = folder / "junk.mp4"
        path.write_bytes(np.random.default_rng(7).bytes(60_000))
        return path
    if kind == "no video stream":
        return _audio_only(folder / "sound.mp4")
    if kind == "zero frames":
        return _zero_frames(folder / "empty.mkv")
    if kind == "cut, index at the end":
        return cut(talk, folder / "cut.mp4", 0.6)  # moov is written last: gone
    raise ValueError(kind)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("missing", "input not found"),
        ("folder", "no video found"),  # an empty folder: a batch of nothing
        ("random bytes", "not a readable media file"),
        ("no video stream", "no video stream in"),
        ("zero frames", "no video frame could be decoded"),
        ("cut, index at the end", "not a readable media file (damaged, incomplete"),
    ],
)
def test_bad_input_gives_one_line_and_no_output(samples, weights_file, tmp_path, kind, message):
    inputs, outputs = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    outputs.mkdir()
    source = _make_input(kind, inputs, samples["talk"])
    done = bgrm("process", str(source), "-o", str(outputs / "x.mp4"), "--downsample", "0.25")
    assert_one_line_error(done, 1, message, source)
    assert leftovers(outputs) == []


def test_unreadable_input(samples, tmp_path):
    """Tests run as root, who reads any file: the child drops the capabilities that allow it."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("needs root with setpriv to drop CAP_DAC_OVERRIDE (else chmod 000 suffices)")
    locked = tmp_path / "locked.mp4"
    shutil.copy(samples["talk"], locked)
    locked.chmod(0)
    drop = "-dac_override,-dac_read_search"
    done = subprocess.run(
        [setpriv, f"--inh-caps={drop}", f"--bounding-set={drop}", *BGRM, "process", str(locked)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert_one_line_error(done, 1, "cannot read the input (permission denied)", locked)
    assert leftovers(tmp_path, locked) == []


@pytest.mark.parametrize(
    ("background", "message"),
    [
        ("missing.jpg", "background image not found"),
        ("missing.mp4", "not found"),
        ("garbage.jpg", "cannot read background image"),
        ("garbage.mp4", ""),  # video backgrounds: another branch's error; one line, code 1
    ],
)
def test_bad_background_gives_one_line_and_no_output(
    samples, weights_file, tmp_path, background, message
):
    path = tmp_path / background
    if background.startswith("garbage"):
        path.write_bytes(b"not a picture at all" * 50)
    out = tmp_path / "out.mp4"
    done = bgrm("process", str(samples["talk"]), "-o", str(out), "--bg", str(path))
    assert_one_line_error(done, 1, message, path)
    assert not out.exists() and list(tmp_path.glob(".*")) == []


@contextlib.contextmanager
def tmpfs(folder: Path, options: str):
    """A tmpfs mounted on ``folder`` for the test (skipped where mounting is not allowed)."""
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_output_folder_read_only(samples, weights_file, tmp_path):
    with tmpfs(tmp_path / "ro", "ro,size=1m") as folder:
        done = bgrm("process", str(samples["talk"]), "-o", str(folder / "x.mp4"))
        assert_one_line_error(done, 1, "output folder is not writable", folder)
        assert leftovers(folder) == []


def test_output_folder_missing(samples, weights_file, tmp_path):
    folder = tmp_path / "no" / "such"
    done = bgrm("process", str(samples["talk"]), "-o", str(folder / "x.mp4"))
    assert_one_line_error(done, 1, "output folder does not exist", folder)


def test_existing_output_without_overwrite(samples, weights_file, tmp_path):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"keep me")
    done = bgrm("process", str(samples["talk"]), "-o", str(out))
    assert_one_line_error(done, 1, "output exists (pass -y to replace it)", out)
    assert out.read_bytes() == b"keep me" and leftovers(tmp_path, out) == []


@pytest.mark.slow
def test_disk_full_removes_the_partial_file(samples, weights_file, tmp_path):
    """A 16 KiB tmpfs: the header fits, the frames do not (the result would be ~130 KiB)."""
    with tmpfs(tmp_path / "small", "size=16k") as folder:
        out = folder / "out.mp4"
        done = bgrm("process", str(samples["talk"]), "-o", str(out), "--downsample", "0.25", "-q")
        assert_one_line_error(done, 1, "(No space left on device)", out)
        assert "the partial file was removed" in done.stderr
        assert leftovers(folder) == []


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "code", "word"),
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],
)
def test_signal_mid_job_stops_cleanly(weights_file, tmp_path, signum, code, word):
    source = make_clip(tmp_path / "long.mp4", size=(176, 144), frames=900)
    outputs = tmp_path / "out"
    outputs.mkdir()
    with subprocess.Popen(
        [*BGRM, "process", str(source), "-o", str(outputs / "x.mp4"), "--batch", "1", "-q"],
        stderr=subprocess.PIPE,
        text=True,
        # A shell may start background jobs with SIGINT ignored; a terminal's Ctrl-C is not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    ) as job:
        try:
            running = {"alive": lambda: job.poll() is None, "timeout": 300}
            temps = lambda: [p for p in outputs.glob(".x.part-*") if p.stat().st_size]  # noqa: E731
            wait_for(temps, "the job's temp file", **running)
            begun = cpu_seconds(job.pid)  # the file is opened: frames are on their way
            wait_for(lambda: cpu_seconds(job.pid) > begun + 0.5, "well into the frames", **running)
            job.send_signal(signum)
            _, stderr = job.communicate(timeout=60)
        finally:
            job.kill()  # a test that failed before the signal leaves no job running
    assert job.returncode == code, stderr
    assert stderr.strip() == f"bgrm: error: {word}; no output written"
    assert leftovers(outputs) == []
