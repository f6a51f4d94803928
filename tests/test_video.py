"""PyAV layer on real files: probe, decode, and encode round trips that keep time and audio."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from bgrm.errors import InputError, OutputError
from bgrm.media.decode import read_frames
from bgrm.media.formats import composite_encoding
from bgrm.media.probe import probe
from bgrm.media.writer import FrameWriter
from tests.media import assert_audio_copied, make_clip, sample_clips

# Matroska and WebM store timestamps in milliseconds; MP4 and MOV keep the input's time base.
PTS_TOLERANCE_S = {".mp4": 1e-6, ".mov": 1e-6, ".mkv": 5e-4 + 1e-9, ".webm": 5e-4 + 1e-9}


@pytest.fixture(scope="module")
def talk() -> Path:
    return sample_clips()["talk"]


def roundtrip(source: Path, target: Path) -> tuple[list[str], list[np.ndarray]]:
    """Decode ``source`` and encode every frame to ``target``; return notices and frames."""
    notices: list[str] = []
    frames = []
    encoding = composite_encoding(target)
    with FrameWriter(target, probe(source), encoding, on_notice=notices.append) as writer:
        for frame in read_frames(source):
            frames.append(frame.rgb)
            writer.write(frame.rgb, frame.pts)
    return notices, frames


def times_s(path: Path) -> list[float]:
    time_base = probe(path).time_base
    return [float(frame.pts * time_base) for frame in read_frames(path)]


def audio_packets(path: Path) -> list[tuple[bytes, float, float]]:
    """Every audio packet of the first audio stream: bytes, pts and duration in seconds."""
    with av.open(str(path)) as container:
        return [
            (bytes(p), float(p.pts * p.time_base), float(p.duration * p.time_base))
            for p in container.demux(container.streams.audio[0])
            if p.size
        ]


def test_probe_sample(talk: Path) -> None:
    info = probe(talk)
    assert (info.width, info.height, info.codec) == (176, 144, "h264")
    assert info.time_base == Fraction(1, 30000)
    assert info.average_rate == Fraction(30000, 1001)
    assert info.frame_count == 120
    assert info.duration_s == pytest.approx(4.004)
    (track,) = info.audio
    assert (track.codec, track.sample_rate, track.channels) == ("aac", 48000, 1)


def test_probe_rejects_bad_inputs(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    sound_only = tmp_path / "sound.m4a"
    with av.open(str(sound_only), mode="w", format="mp4") as container:
        container.add_stream("aac", rate=48000)
    for path in (tmp_path / "missing.mp4", tmp_path, junk, sound_only):
        with pytest.raises(InputError, match=str(path)):
            probe(path)
        with pytest.raises(InputError, match=str(path)):
            next(read_frames(path))


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov", ".webm"])
def test_roundtrip_keeps_frames_time_and_audio(talk: Path, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"out{suffix}"
    notices, frames = roundtrip(talk, out)
    info = probe(out)
    assert info.average_rate == Fraction(30000, 1001)
    assert times_s(out) == pytest.approx(times_s(talk), abs=PTS_TOLERANCE_S[suffix])
    written = [frame.rgb for frame in read_frames(out)]
    assert len(written) == len(frames) == 120
    diff = np.abs(np.stack(written).astype(int) - np.stack(frames).astype(int)).mean()
    assert diff < 3.5  # CRF 18 (x264 veryfast) or VP9 CRF on an already compressed 176x144 clip
    (track,) = info.audio
    if suffix == ".webm":
        assert notices == ["audio track 1: aac is not allowed in .webm, transcoding to opus"]
        assert track.codec == "opus"
        assert probe(out).audio[0].sample_rate == 48000
        return
    assert notices == []
    assert_audio_copied(out, talk, PTS_TOLERANCE_S[suffix])
    durations = [[p[2] for p in audio_packets(path)] for path in (out, talk)]
    assert durations[0] == pytest.approx(durations[1], abs=PTS_TOLERANCE_S[suffix])


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_variable_frame_rate_and_late_start_are_kept(tmp_path: Path, suffix: str) -> None:
    gaps = [1001, 2002, 1001, 3003, 990, 1020, 1001, 6006, 1001, 1001]
    pts = list(np.cumsum([3000, *gaps]))
    source = make_clip(tmp_path / f"vfr{suffix}", vfr_pts=[int(p) for p in pts])
    out = tmp_path / f"out{suffix}"
    roundtrip(source, out)
    expected = [float(p * Fraction(1, 30000)) for p in pts]
    assert times_s(source) == pytest.approx(expected, abs=PTS_TOLERANCE_S[suffix])
    assert times_s(out) == pytest.approx(expected, abs=PTS_TOLERANCE_S[suffix])
    assert_audio_copied(out, source, PTS_TOLERANCE_S[suffix])


def test_odd_size_is_padded_with_one_notice(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "odd.webm", size=(63, 47), frames=5, codec="libvpx-vp9")
    out = tmp_path / "out.mp4"
    notices, frames = roundtrip(source, out)
    assert len(notices) == 1 and "63x47" in notices[0] and "64x48" in notices[0]
    written = [frame.rgb for frame in read_frames(out)]
    assert written[0].shape == (48, 64, 3) and len(written) == len(frames)
    assert np.abs(written[0][:47, :63].astype(int) - frames[0]).mean() < 3


def test_clip_without_audio(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "silent.mkv", audio=False, frames=4)
    out = tmp_path / "out.mov"
    roundtrip(source, out)
    assert probe(out).audio == ()
    assert len(times_s(out)) == 4


def test_bad_outputs(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "in.mp4", frames=2)
    missing = tmp_path / "no" / "such" / "out.mp4"
    with pytest.raises(OutputError, match=str(missing)):
        FrameWriter(missing, probe(source), composite_encoding(missing))
    part = tmp_path / "out.mp4.part-1"
    writer = FrameWriter(part, probe(source), composite_encoding(tmp_path / "out.mp4"))
    writer.abort()


def test_opus_in_webm_is_copied(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "in.webm", frames=10, codec="libvpx-vp9")
    out = tmp_path / "out.webm"
    notices, _ = roundtrip(source, out)
    assert notices == []
    assert_audio_copied(out, source, PTS_TOLERANCE_S[".webm"])
    assert times_s(out) == times_s(source)
