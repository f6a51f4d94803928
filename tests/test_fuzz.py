"""Fuzz: damaged copies of small real videos either work consistently or fail with one line.

Hypothesis mutates real files (bits flipped, cut short, chunks deleted or repeated) and bgrm
must either process them, with as many frames out as it could decode, in a file that reads
back whole, or raise a BgrmError whose message is one line naming the file. Any other
exception fails the test, and so does a hang: a watchdog ends the run after CASE_LIMIT_S.

The library layer (probe, decode, encode with the audio muxer) runs BGRM_FUZZ_EXAMPLES cases
(200 by default); the full pipeline with the model runs BGRM_FUZZ_PIPELINE_EXAMPLES (12).
Seeds are derandomized, so CI runs the same cases every time.
"""

from __future__ import annotations

import faulthandler
import os
from contextlib import contextmanager
from pathlib import Path

import av
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import bgrm
from bgrm.errors import BgrmError
from bgrm.media.decode import DecodeReport, read_frames
from bgrm.media.formats import composite_encoding
from bgrm.media.probe import probe
from bgrm.media.writer import FrameWriter
from tests.media import make_clip, remux, sample_clips

LIBRARY_EXAMPLES = int(os.environ.get("BGRM_FUZZ_EXAMPLES", "200"))
PIPELINE_EXAMPLES = int(os.environ.get("BGRM_FUZZ_PIPELINE_EXAMPLES", "12"))
CASE_LIMIT_S = 60
SEED_NAMES = ["faststart.mp4", "clip.mkv", "clip.webm", "talk.mp4"]

FUZZ_SETTINGS = {
    "derandomize": True,
    "deadline": None,  # the watchdog bounds each case; the shared CI machine's speed varies
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}


def _talk_opening(target: Path, seconds: float = 0.5) -> Path:
    """The first ``seconds`` of the real sample clip, video and audio, copied packet for packet."""
    faststart = {"movflags": "+faststart"}  # index first, so a cut file still has frames
    with (
        av.open(str(sample_clips()["talk"])) as inp,
        av.open(str(target), "w", options=faststart) as out,
    ):
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        for packet in inp.demux():
            if packet.size and packet.pts is not None and packet.pts * packet.time_base < seconds:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    return target


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict[str, Path]:
    """Small real files to mutate: synthetic clips in each container, and the real sample."""
    folder = tmp_path_factory.mktemp("seeds")
    mp4 = make_clip(folder / "clip.mp4", frames=12)
    files = [
        remux(mp4, folder / "faststart.mp4", {"movflags": "+faststart"}),
        make_clip(folder / "clip.mkv", frames=12),
        make_clip(folder / "clip.webm", frames=8, codec="libvpx-vp9"),
        _talk_opening(folder / "talk.mp4"),
    ]
    return {path.name: path for path in files}


DAMAGES = st.lists(
    st.tuples(
        st.sampled_from(["flip", "flip", "cut", "delete", "repeat"]),
        st.floats(0, 1),  # where, as a share of the file
        st.integers(1, 4096),  # how many bytes (flips: how many, spread out)
        st.integers(1, 255),  # the bits flipped
    ),
    min_size=1,
    max_size=4,
)


def damaged(data: bytes, damages: list[tuple[str, float, int, int]]) -> bytes:
    """``data`` with every damage applied in turn (a short, printable recipe for Hypothesis)."""
    data = bytearray(data)
    for kind, where, length, bits in damages:
        if len(data) < 2:
            break
        at = min(int(where * len(data)), len(data) - 1)
        if kind == "flip":
            for offset in range(min(length, 64)):
                data[(at + offset * 97) % len(data)] ^= bits
        elif kind == "cut":
            del data[max(at, 1) :]
        elif kind == "delete":
            del data[at : at + length]
        else:
            data[at:at] = data[at : at + length]
    return bytes(data)


@contextmanager
def watchdog():
    """End the whole run, with every thread's stack, if one case takes over CASE_LIMIT_S."""
    faulthandler.dump_traceback_later(CASE_LIMIT_S, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


def assert_clear(error: BgrmError, path: Path) -> None:
    message = str(error)
    event(f"clear error: {message.split(':')[0]}")  # counted in --hypothesis-show-statistics
    assert "\n" not in message and message.strip() == message
    assert str(path) in message


def fuzz_case(tmp_path_factory, seed: Path, damages) -> Path:
    """A fresh folder holding the damaged copy of ``seed``."""
    folder = tmp_path_factory.mktemp("fuzz", numbered=True)
    path = folder / f"case{seed.suffix}"
    path.write_bytes(damaged(seed.read_bytes(), damages))
    return path


@pytest.mark.slow
@settings(max_examples=LIBRARY_EXAMPLES, **FUZZ_SETTINGS)
@given(name=st.sampled_from(SEED_NAMES), damages=DAMAGES)
def test_damaged_files_through_the_video_layer(seeds, tmp_path_factory, name, damages):
    path = fuzz_case(tmp_path_factory, seeds[name], damages)
    out = path.with_name("out.mp4")
    with watchdog():
        try:
            info = probe(path)
            report = DecodeReport()
            times = []
            with FrameWriter(out, info, composite_encoding(out)) as writer:
                for frame in read_frames(path, size=(info.height, info.width), report=report):
                    assert frame.rgb.shape == (info.height, info.width, 3)
                    writer.write(frame.rgb, frame.pts)
                    times.append(frame.pts)
        except BgrmError as error:
            assert_clear(error, path)
            return
    event("processed" if not report.warnings(info) else "processed, damage reported")
    assert times == sorted(set(times)) and len(times) == report.frames > 0
    clean = DecodeReport()
    written = [frame.pts for frame in read_frames(out, report=clean)]
    assert len(written) == len(times)
    assert (clean.bad_packets, clean.read_errors, clean.bad_frames) == (0, 0, 0)


@pytest.mark.slow
@settings(max_examples=PIPELINE_EXAMPLES, **FUZZ_SETTINGS)
@given(damages=DAMAGES)
def test_damaged_files_through_the_whole_pipeline(seeds, weights_file, tmp_path_factory, damages):
    path = fuzz_case(tmp_path_factory, seeds["talk.mp4"], damages)
    folder = path.parent
    with watchdog():
        try:
            result = bgrm.process(
                path, folder / "out.mp4", background="white", downsample=0.25, device="cpu"
            )
        except BgrmError as error:
            assert_clear(error, path)
            assert [p.name for p in folder.iterdir()] == [path.name]  # nothing left behind
            return
        decodable = sum(1 for _ in read_frames(path))
    event("processed")
    assert result.frames == decodable
    assert sum(1 for _ in read_frames(result.output)) == decodable
