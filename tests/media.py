"""Real media for the tests: the fetched samples, synthetic clips made with PyAV, and readers
that look at an output as a player or an editor would (frames, timestamps, audio, alpha)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from samples.fetch import add_tone_track, fetch_samples, write_tone

CACHE = Path(__file__).parent / ".cache"


def sample_clips(tmp_dir: Path | None = None) -> dict[str, Path]:
    """The real sample files (talk.mp4, background.jpg, bikes.mp4), downloaded once per machine.

    ``tmp_dir`` is unused by the cache; it is accepted so callers can pass their temp folder.
    """
    del tmp_dir
    return fetch_samples(CACHE)


def make_clip(
    path: Path,
    *,
    size: tuple[int, int] = (64, 48),
    frames: int = 30,
    rate: Fraction = Fraction(30000, 1001),
    vfr_pts: list[int] | None = None,
    audio: bool | str = True,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    rotation: int = 0,
    colour: tuple[int, int, int, int] | None = None,
) -> Path:
    """Write a clip of a moving pattern, ``size`` = (width, height), with optional audio.

    The video time base is 1/rate.numerator, so frame i sits at i * rate.denominator unless
    ``vfr_pts`` gives every pts. ``audio`` is True (AAC, or Opus in .webm), False, or an
    encoder name; it is a mono 48 kHz tone as long as the video. ``rotation`` (degrees
    counter-clockwise, as FFmpeg reports it) is written as the container's display matrix.
    ``colour`` = (matrix, primaries, transfer, range) in FFmpeg's numbers: the picture is
    converted with that matrix and range, and tagged so.
    """
    path = Path(path)
    time_base = Fraction(1, rate.numerator)
    pts_list = vfr_pts if vfr_pts is not None else [i * rate.denominator for i in range(frames)]
    width, height = size
    with av.open(str(path), mode="w") as container:
        quiet = {"x265-params": "log-level=error"} if codec == "libx265" else {}
        video = container.add_stream(codec, rate=rate, options=quiet)
        video.width, video.height = width, height
        video.pix_fmt = pix_fmt
        if rotation:
            video.set_display_rotation(rotation)
        if colour is not None:
            context = video.codec_context
            context.colorspace, context.color_primaries = colour[0], colour[1]
            context.color_trc, context.color_range = colour[2], colour[3]
        video.codec_context.time_base = time_base
        video.time_base = time_base
        sound = _add_audio(container, path, audio)
        samples_done = 0
        for index, pts in enumerate(pts_list):
            frame = av.VideoFrame.from_ndarray(_pattern(width, height, index), format="rgb24")
            if colour is not None:
                matrix = {1: "itu709", 9: "bt2020"}.get(colour[0], "itu601")
                frame = frame.reformat(
                    format=pix_fmt, dst_colorspace=matrix, dst_color_range=colour[3]
                )
            frame.pts, frame.time_base = pts, time_base
            container.mux(video.encode(frame))
            if sound is not None:
                samples_done = write_tone(container, sound, samples_done, pts * time_base)
        end = pts_list[-1] * time_base + Fraction(rate.denominator, rate.numerator)
        container.mux(video.encode(None))
        if sound is not None:
            write_tone(container, sound, samples_done, end)
            container.mux(sound.encode(None))
    return path


def _pattern(width: int, height: int, index: int) -> np.ndarray:
    """Soft light-and-shade waves with a mild tint, sliding a few pixels each frame."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    shade = 127 + 60 * np.sin((x + 2 * index) / 6) + 40 * np.cos((y - index) / 5)
    tint = 15 * np.sin((x + y) / 20)
    return np.clip(np.stack([shade + tint, shade, shade - tint], axis=-1), 0, 255).astype(np.uint8)


def _add_audio(container, path: Path, audio: bool | str):
    if audio is False:
        return None
    if audio is True:
        audio = "libopus" if path.suffix == ".webm" else "aac"
    return add_tone_track(container, audio)


def loop_clip(
    source: Path,
    target: Path,
    times: int,
    bounce: bool = False,
    size: tuple[int, int] | None = None,
) -> Path:
    """``source``'s video played ``times`` times in a row (no audio), H.264 at its frame rate;
    ``bounce``: every other time backwards (no jump cut); ``size``: scaled to (width, height)."""
    with av.open(str(source)) as inp:
        stream = inp.streams.video[0]
        rate = stream.average_rate
        width, height = size or (stream.width, stream.height)
        frames = [
            f.reformat(width, height, interpolation="BICUBIC").to_ndarray(format="rgb24")
            for f in inp.decode(stream)
        ]
    count = len(frames) * times
    if bounce:  # forwards, backwards, forwards...
        frames = frames + frames[::-1]
    with av.open(str(target), "w") as out:
        video = out.add_stream("libx264", rate=rate)
        video.height, video.width = frames[0].shape[:2]
        video.pix_fmt = "yuv420p"
        video.options = {"preset": "ultrafast"}
        for index in range(count):
            frame = av.VideoFrame.from_ndarray(frames[index % len(frames)], format="rgb24")
            frame.pts = index
            frame.time_base = 1 / rate
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    return Path(target)


def bounce_clip(source: Path, target: Path, count: int, rate: int = 30) -> Path:
    """``source``'s frames played forwards and backwards (no frame twice at a turn) to
    ``count`` frames at ``rate`` frames/s, stored losslessly (H.264 RGB, qp 0), no audio: the
    decoded frames are the source's, bit for bit."""
    with av.open(str(source)) as inp:
        frames = [f.to_ndarray(format="rgb24") for f in inp.decode(video=0)]
    frames = frames + frames[-2:0:-1]
    with av.open(str(target), "w") as out:
        video = out.add_stream("libx264rgb", rate=rate)
        video.height, video.width = frames[0].shape[:2]
        video.pix_fmt = "rgb24"
        video.options = {"qp": "0", "preset": "ultrafast"}
        for index in range(count):
            frame = av.VideoFrame.from_ndarray(frames[index % len(frames)], format="rgb24")
            frame.pts = index
            frame.time_base = Fraction(1, rate)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    return Path(target)


def remux(source: Path, target: Path, options: dict[str, str] | None = None) -> Path:
    """Copy every stream of ``source`` packet for packet into ``target`` (muxer ``options``)."""
    with av.open(str(source)) as inp, av.open(str(target), "w", options=options or {}) as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        for packet in inp.demux():
            if packet.size:  # not the demuxer's end-of-stream marker
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    return Path(target)


def cut(source: Path, target: Path, keep: float) -> Path:
    """The first ``keep`` share of ``source``'s bytes, as a crash mid-write leaves a file."""
    data = Path(source).read_bytes()
    Path(target).write_bytes(data[: int(len(data) * keep)])
    return Path(target)


def video_packets(path: Path) -> list[tuple[int, int]]:
    """(byte offset, size) of every video packet of ``path``, in file order."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [(p.pos, p.size) for p in container.demux(stream) if p.size and p.pos >= 0]


def damage_packets(source: Path, target: Path, indices: list[int], seed: int = 0) -> Path:
    """Copy ``source`` with the bytes of the video packets at ``indices`` scrambled.

    The container's index is left intact, so only the picture data of those packets is bad,
    as with a bad sector or a transfer error.
    """
    data = bytearray(Path(source).read_bytes())
    packets = video_packets(source)
    rng = np.random.default_rng(seed)
    for index in indices:
        offset, size = packets[index]
        data[offset : offset + size] = rng.bytes(size)
    Path(target).write_bytes(bytes(data))
    return Path(target)


def add_side_streams(
    source: Path,
    target: Path,
    *,
    languages: tuple[str, ...] = (),
    subtitle: str | None = None,
    data: str | None = None,
) -> Path:
    """Remux ``source`` (video + one audio track) into ``target`` with more streams beside it.

    ``languages`` tags the source's audio track and copies of it (one per extra language);
    ``subtitle`` adds a French track in that codec ("subrip", "mov_text", "webvtt", "ass"),
    three cues; ``data`` adds a data stream in that codec ("klv"), one packet per video frame.
    """
    cues = [(i * 300, 250, f"cue {i}") for i in range(3)]
    with av.open(str(source)) as inp, av.open(str(target), "w") as out:
        (video,) = inp.streams.video
        (sound,) = inp.streams.audio
        out_video = out.add_stream_from_template(video)
        tracks = [out.add_stream_from_template(sound) for _ in languages or ("",)]
        for track, language in zip(tracks, languages, strict=False):
            track.metadata["language"] = language
        extra = []
        if subtitle is not None:
            text = out.add_mux_stream(subtitle)
            text.time_base = Fraction(1, 1000)
            text.metadata["language"] = "fre"
            extra += [(start, length, _cue(subtitle, words), text) for start, length, words in cues]
        telemetry = out.add_data_stream(data) if data is not None else None
        records = 0
        for packet in inp.demux():
            if not packet.size:
                continue
            now_ms = float((packet.dts or packet.pts or 0) * packet.time_base) * 1000
            while extra and extra[0][0] <= now_ms:
                start, length, payload, stream = extra.pop(0)
                _mux_raw(out, stream, payload, start, length)
            if packet.stream.type == "video":
                packet.stream = out_video
                out.mux(packet)
                if telemetry is not None:  # a KLV-like record every 33 ms
                    _mux_raw(out, telemetry, b"\x06\x0e\x2b\x34" + bytes(12), 33 * records, 33)
                    records += 1
                continue
            for track in tracks:
                copy = av.Packet(bytes(packet))
                copy.pts, copy.dts, copy.duration = packet.pts, packet.dts, packet.duration
                copy.time_base = packet.time_base
                copy.stream = track
                out.mux(copy)
    return Path(target)


def _cue(codec: str, words: str) -> bytes:
    if codec == "mov_text":  # a 16-bit length, then the text
        return len(words).to_bytes(2, "big") + words.encode()
    if codec == "ass":
        return f"0,0,Default,,0,0,0,,{words}".encode()
    return words.encode()


def _mux_raw(out, stream, payload: bytes, start_ms: int, length_ms: int) -> None:
    packet = av.Packet(payload)
    packet.pts = packet.dts = start_ms
    packet.duration = length_ms
    packet.time_base = Fraction(1, 1000)
    packet.stream = stream
    out.mux(packet)


def encode_frames(
    path: Path,
    frames: list[np.ndarray],
    *,
    rate: Fraction = Fraction(30000, 1001),
    rotation: int = 0,
) -> Path:
    """Encode uint8 [H, W, 3] frames nearly losslessly (H.264 at qp 0) with a display rotation."""
    with av.open(str(path), mode="w") as container:
        video = container.add_stream("libx264", rate=rate, options={"qp": "0"})
        video.height, video.width = frames[0].shape[:2]
        video.pix_fmt = "yuv420p"
        if rotation:
            video.set_display_rotation(rotation)
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts = index
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
    return Path(path)


def video_frames(path: Path) -> tuple[list[float], np.ndarray]:
    """Per-frame pts in seconds, and every frame as uint8 [N, H, W, 3]."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        times = [float(f.pts * f.time_base) for f in frames]
        return times, np.stack([f.to_ndarray(format="rgb24") for f in frames])


def audio_packets(path: Path) -> list[tuple[bytes, float]]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return [(bytes(p), float(p.pts * p.time_base)) for p in container.demux(stream) if p.size]


def assert_audio_copied(out: Path, source: Path, tolerance: float = 1e-6) -> None:
    """Every audio packet of ``source`` is in ``out`` byte for byte, at its own time; in
    Matroska and WebM a track that began before the video (codec priming) starts with it,
    all its packets moved alike."""
    copied, original = audio_packets(out), audio_packets(source)
    assert [data for data, _ in copied] == [data for data, _ in original]
    shift = 0.0
    if out.suffix in (".mkv", ".webm", ".mka"):
        video_start = video_frames(source)[0][0] if source.suffix != ".mka" else 0.0
        shift = max(0.0, video_start - original[0][1])
        assert copied[0][1] == pytest.approx(original[0][1] + shift, abs=tolerance)
    expected = [t + shift for _, t in original]
    assert [t for _, t in copied] == pytest.approx(expected, abs=tolerance)


def gray_frames(path: Path) -> tuple[list[float], np.ndarray]:
    """Per-frame pts in seconds and every frame as uint8 [N, H, W] (luma, full range)."""
    with av.open(str(path)) as container:
        assert not container.streams.audio  # a matte carries no sound
        frames = list(container.decode(container.streams.video[0]))
        times = [float(f.pts * f.time_base) for f in frames]
        return times, np.stack([f.to_ndarray(format="gray") for f in frames])


def rgba_frames(
    path: Path, decoder: str | None = None
) -> tuple[list[str], list[float], np.ndarray]:
    """Decoded pixel formats, pts in seconds and RGBA uint8 [N, H, W, 4] of the first video stream.

    ``decoder`` names the FFmpeg decoder to use instead of the container's default.
    """
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if decoder is None:
            frames = list(container.decode(stream))
        else:
            context = av.CodecContext.create(decoder, "r")
            frames = [f for packet in container.demux(stream) for f in context.decode(packet)]
        formats = sorted({f.format.name for f in frames})
        times = [float(f.pts * f.time_base) for f in frames]
        return formats, times, np.stack([f.to_ndarray(format="rgba") for f in frames])


def assert_person_is_opaque_and_room_transparent(alpha: np.ndarray) -> None:
    """The man's chest (bottom centre) is opaque, the car ceiling (top left) transparent."""
    assert alpha[:, 110:140, 60:120].mean() > 250
    assert alpha[:, 2:20, 2:40].mean() < 5


def seam_frames(split: Path, single: Path) -> tuple[np.ndarray, np.ndarray]:
    """Per frame of two lossless mattes: the share of pixels off by more than 64/255 (holes,
    ghosts) and the mean |difference| in 1/255."""
    _, a = gray_frames(split)
    _, b = gray_frames(single)
    difference = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return (difference > 64).mean(axis=(1, 2)), difference.mean(axis=(1, 2))


def matte_agreement(split: Path, single: Path) -> tuple[float, float]:
    """Mean and worst frame's mean |difference| of two lossless mattes, in 1/255."""
    _, a = gray_frames(split)
    _, b = gray_frames(single)
    difference = np.abs(a.astype(int) - b.astype(int))
    return float(difference.mean()), float(difference.mean(axis=(1, 2)).max())


def slide_frame(width: int, height: int) -> np.ndarray:
    """A shared-screen slide, uint8 [H, W, 3]: a dark title bar with its title, three bars of a
    chart on axes, and lines of text beside it, on white."""
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (width, height), (250, 250, 247))
    draw = ImageDraw.Draw(picture)
    bar = height // 6
    draw.rectangle((0, 0, width, bar), fill=(31, 56, 100))
    draw.text((width // 20, bar // 3), "Quarterly results", fill=(255, 255, 255))
    left, bottom, top = width // 12, height * 9 // 10, height * 3 // 10
    draw.line((left, top, left, bottom, left + width // 2, bottom), fill=(60, 60, 60), width=2)
    for number, (share, colour) in enumerate(
        [(0.45, (220, 90, 40)), (0.7, (60, 140, 200)), (0.9, (90, 170, 80))]
    ):
        x = left + (number + 1) * width // 10
        draw.rectangle(
            (x - width // 30, bottom - share * (bottom - top), x + width // 30, bottom), fill=colour
        )
    for line in range(5):
        y = top + line * (bottom - top) // 6
        draw.text((width * 3 // 5, y), f"- point {line + 1} of the talk", fill=(40, 40, 40))
    return np.asarray(picture)


def walk_out_frames(
    frame: np.ndarray,
    alpha: np.ndarray,
    room: np.ndarray,
    *,
    still: int = 20,
    leaving: int = 30,
    empty: int = 45,
) -> list[np.ndarray]:
    """One continuous shot of a static room, uint8 [H, W, 3] each: the person of ``frame``
    (cut out by ``alpha`` [H, W]) stands in ``room`` for ``still`` frames, walks out to the
    right over ``leaving`` frames, and the room stays empty for ``empty`` frames."""
    width = frame.shape[1]
    person = frame.astype(np.float32)
    cover = alpha.astype(np.float32)[..., None] / 255
    frames = []
    for index in range(still + leaving + empty):
        step = min(max(index - still + 1, 0), leaving)
        shift = round(step * width / leaving)
        moved_person = np.zeros_like(person)
        moved_cover = np.zeros_like(cover)
        if shift < width:
            moved_person[:, shift:] = person[:, : width - shift]
            moved_cover[:, shift:] = cover[:, : width - shift]
        mixed = moved_person * moved_cover + room.astype(np.float32) * (1 - moved_cover)
        frames.append(mixed.round().astype(np.uint8))
    return frames
