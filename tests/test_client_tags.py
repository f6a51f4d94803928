"""What editors, players and browsers read in bgrm's files: a split job's joined file declares
what one pass declares (codec tag, profile, pixel format, colour, field order, aspect, the whole
sample entry or track header); every video output with non-square pixels declares its display
size where clients look for it (MP4 track header, Matroska DisplayWidth/DisplayHeight); a still
cut out to WebP holds exactly the PNG's pixels.

Files are read back with PyAV, with ffprobe and mediainfo where installed, with Chromium (a
browser's videoWidth) where installed, and by reading the MP4 boxes and Matroska elements.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

import bgrm

COMPOSITES = [
    ("out.mp4", {}, "m.mkv"),
    ("out.mp4", {"codec": "hevc"}, "m.mp4"),
    ("out.mp4", {"codec": "av1"}, None),
    ("out.mp4", {"codec": "vp9"}, None),
    ("out.mov", {}, "m.mov"),
    ("out.mov", {"codec": "hevc"}, None),
    ("out.mkv", {}, "m.webm"),
    ("out.mkv", {"codec": "hevc"}, None),
    ("out.mkv", {"codec": "av1"}, None),
    ("out.mkv", {"codec": "vp9"}, None),
    ("out.webm", {}, None),
    ("out.webm", {"codec": "av1"}, None),
]
ALPHAS = [("out.mov", {"alpha": "prores"}, "m.mkv"), ("out.webm", {"alpha": "webm"}, "m.mp4")]
KINDS = COMPOSITES + ALPHAS
"""Every video output: (output name, parameters, matte name or None)."""


def kind_id(kind: tuple[str, dict, str | None]) -> str:
    name, parameters, matte = kind
    what = parameters.get("codec") or parameters.get("alpha") or "default"
    return f"{what}-{name.split('.')[1]}" + (f"+matte.{matte.split('.')[1]}" if matte else "")


@pytest.fixture(scope="module")
def anamorphic(tmp_path_factory) -> Path:
    """A clip stored 352x288 with pixels 12:11 wide (shown 384x288, 4:3), 6 frames."""
    path = tmp_path_factory.mktemp("anamorphic") / "in.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 352, 288, "yuv420p"
        stream.codec_context.sample_aspect_ratio = Fraction(12, 11)
        rows, columns = np.mgrid[0:288, 0:352]
        for index in range(6):
            picture = np.stack([(rows + 8 * index) % 256, columns % 256, rows * 0 + 128], -1)
            frame = av.VideoFrame.from_ndarray(picture.astype(np.uint8), format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


# Reading the files back ---------------------------------------------------------------------


def ffprobe(path: Path) -> dict:
    """What ffprobe says of the first video stream ({} where ffprobe is not installed)."""
    if shutil.which("ffprobe") is None:
        return {}
    fields = (
        "codec_tag_string,profile,pix_fmt,field_order,sample_aspect_ratio,display_aspect_ratio,"
        "color_space,color_primaries,color_transfer,color_range"
    )
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         f"stream={fields}", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(done.stdout)["streams"][0]


def pyav(path: Path) -> dict:
    """What PyAV (FFmpeg 8) says of the first video stream."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        context = stream.codec_context
        return {
            "tag": context.codec_tag,
            "profile": context.profile,
            "pix_fmt": context.pix_fmt,
            "aspect": stream.sample_aspect_ratio,
            "colour": (context.colorspace, context.color_primaries, context.color_trc),
            "range": context.color_range,
            "field_order": context.field_order,
        }


def boxes(data: bytes, start: int, end: int):
    """(type, body start, end) of the MP4 boxes from ``start`` to ``end``."""
    at = start
    while at + 8 <= end:
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        head = 16 if size == 1 else 8
        size = struct.unpack(">Q", data[at + 8 : at + 16])[0] if size == 1 else size or end - at
        yield kind.decode("latin-1"), at + head, at + size
        at += size


def box(data: bytes, span: tuple[int, int], *path: str) -> tuple[int, int]:
    for kind in path:
        span = next((start, end) for name, start, end in boxes(data, *span) if name == kind)
    return span


def mp4_video_track(path: Path) -> dict:
    """The video track's header: its tkhd size (16.16) and its sample entry, the bit rates of
    its 'btrt' zeroed (they are measured from the packets)."""
    data = path.read_bytes()
    for kind, start, end in boxes(data, *box(data, (0, len(data)), "moov")):
        handler = box(data, (start, end), "mdia", "hdlr") if kind == "trak" else None
        if handler and data[handler[0] + 8 : handler[0] + 12] == b"vide":
            header = box(data, (start, end), "tkhd")
            stsd = box(data, (start, end), "mdia", "minf", "stbl", "stsd")
            entry = bytearray(data[stsd[0] + 8 : stsd[1]])
            at = entry.find(b"btrt")
            if at >= 0:
                entry[at + 4 : at + 16] = bytes(12)
            width, height = struct.unpack(">II", data[header[1] - 8 : header[1]])
            return {"shown": (width / 65536, height / 65536), "entry": bytes(entry)}
    raise AssertionError(f"no video track in {path}")


def ebml(data: bytes, start: int, end: int):
    """(id, body start, end) of the EBML elements from ``start`` to ``end``."""
    at = start
    while at < end:
        id_length = 9 - data[at].bit_length()
        size_length = 9 - data[at + id_length].bit_length()
        ident = int.from_bytes(data[at : at + id_length], "big")
        size = int.from_bytes(data[at + id_length : at + id_length + size_length], "big")
        size &= (1 << 7 * size_length) - 1
        body = at + id_length + size_length
        end_of = end if size == (1 << 7 * size_length) - 1 else body + size
        yield ident, body, end_of
        at = end_of


def element(data: bytes, span: tuple[int, int], ident: int) -> tuple[int, int]:
    return next((start, end) for found, start, end in ebml(data, *span) if found == ident)


def matroska_video_track(path: Path) -> dict:
    """The video TrackEntry's children by id (its Video element's too, under 0xE0), without
    TrackUID (random) and Void (padding)."""
    data = path.read_bytes()
    tracks = element(data, element(data, (0, len(data)), 0x18538067), 0x1654AE6B)
    for ident, start, end in ebml(data, *tracks):
        children = {found: data[a:b] for found, a, b in ebml(data, start, end)}
        if ident == 0xAE and children.get(0x83) == b"\x01":
            video = element(data, (start, end), 0xE0)
            children[0xE0] = {found: data[a:b] for found, a, b in ebml(data, *video)}
            children.pop(0x73C5), children.pop(0xEC, None)
            return children
    raise AssertionError(f"no video track in {path}")


def track_header(path: Path) -> dict:
    mp4 = path.suffix in (".mp4", ".mov")
    return mp4_video_track(path) if mp4 else matroska_video_track(path)


def display(path: Path) -> tuple:
    """The display size as the container declares it: the MP4 tkhd's width and height, or
    Matroska's (DisplayWidth, DisplayHeight, DisplayUnit)."""
    if path.suffix in (".mp4", ".mov"):
        return mp4_video_track(path)["shown"]
    video = matroska_video_track(path)[0xE0]
    return tuple(int.from_bytes(video[i], "big") if i in video else None for i in DISPLAY)


DISPLAY = (0x54B0, 0x54BA, 0x54B2)  # Matroska's DisplayWidth, DisplayHeight, DisplayUnit


def frame_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


# 1. A split job's file is the file one pass writes ------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS, ids=kind_id)
def test_a_joined_file_declares_what_one_pass_declares(samples, model, tmp_path, kind):
    """The sample in one pass and in two parts joined: every output declares the same codec
    tag, profile, pixel format, colour, field order and aspect (PyAV and ffprobe), and its
    container holds the same video track header (MP4 sample entry and tkhd, Matroska
    TrackEntry), bit rates aside."""
    name, parameters, matte = kind
    written = {}
    for how in ("one", "split"):
        folder = tmp_path / how
        folder.mkdir()
        job = bgrm.Job(
            str(samples["talk"]),
            str(folder / name),
            matte=str(folder / matte) if matte else None,
            downsample=0.25,
            **parameters,
        )
        if how == "one":
            bgrm.process(job.input, job.output, matte=job.matte, downsample=0.25, model=model,
                         **parameters)  # fmt: skip
        else:
            parts = bgrm.parts.plan_parts(job, count=2, preroll=0.5)
            pieces = bgrm.parts.parts_folder(job, "test")
            for part in parts:
                bgrm.parts.run_part(job, part, pieces, model=model)
            bgrm.parts.join_parts(job, parts, pieces)
        written[how] = [folder / name] + ([folder / matte] if matte else [])
    for one, split in zip(written["one"], written["split"], strict=True):
        assert pyav(split) == pyav(one), split.name
        assert ffprobe(split) == ffprobe(one), split.name
        assert track_header(split) == track_header(one), split.name
        assert frame_count(split) == 120
    main = pyav(written["split"][0])
    if parameters.get("alpha") == "prores":  # what editors decide by: ProRes 4444 with alpha
        assert (main["tag"], main["profile"]) == ("ap4h", "4444")
        assert main["pix_fmt"].startswith("yuva444p")
    if parameters.get("codec") == "hevc" and name.endswith((".mp4", ".mov")):
        assert main["tag"] == "hvc1"  # what Apple's players need
    webm = name.endswith(".webm")  # whole display pixels: 193x144 for 192.55
    assert main["aspect"] == (Fraction(193, 176) if webm else Fraction(128, 117))


# 7. The display size where every client looks for it ----------------------------------------


@pytest.mark.slow
def test_every_video_output_declares_its_display_size(anamorphic, model, tmp_path):
    """352x288 stored with 12:11 pixels: shown 384x288 by every reader. MP4 declares 384 in
    its track header (MOV: 352 and 'pasp', as FFmpeg writes MOV), WebM DisplayWidth and
    DisplayHeight 384x288, Matroska the display aspect 4:3 (DisplayUnit 3); PyAV, ffprobe
    and mediainfo read 12:11 pixels and a 4:3 picture from every file."""
    expected = {".mp4": (384.0, 288.0), ".mov": (352.0, 288.0), ".webm": (384, 288, None),
                ".mkv": (4, 3, 3)}  # fmt: skip
    outputs = []
    for name, parameters, matte in KINDS:
        what = kind_id((name, parameters, matte))
        target = tmp_path / f"{what}{Path(name).suffix}"
        matte_path = tmp_path / f"{what}-matte{Path(matte).suffix}" if matte else None
        bgrm.process(anamorphic, target, matte=matte_path, downsample=0.25, model=model,
                     **parameters)  # fmt: skip
        outputs += [target] + ([matte_path] if matte_path else [])
    for path in outputs:
        assert display(path) == expected[path.suffix], path.name
        assert pyav(path)["aspect"] == Fraction(12, 11), path.name
        probed = ffprobe(path)
        if probed:
            assert probed["sample_aspect_ratio"] == "12:11", path.name
            assert probed["display_aspect_ratio"] == "4:3", path.name
        if shutil.which("mediainfo"):
            shown = subprocess.run(
                ["mediainfo", "--Inform=Video;%DisplayAspectRatio%", str(path)],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            assert float(shown) == pytest.approx(4 / 3, abs=1e-3), path.name


@pytest.mark.slow
def test_an_inexact_aspect_is_rounded_as_ffmpeg_rounds_it(samples, model, tmp_path):
    """The sample: 176x144 with pixels 128:117 wide (192.55 shown). WebM takes whole pixels
    (193x144: read back as 193:176), Matroska the exact ratio 1408:1053, MP4 16.16 fixed
    point (and 'pasp' 128:117)."""
    talk = samples["talk"]
    runs = {"v.webm": {}, "a.mkv": {"codec": "av1"}, "v.mp4": {"codec": "vp9"}}
    for name, parameters in runs.items():
        bgrm.process(talk, tmp_path / name, downsample=0.25, model=model, **parameters)
    assert display(tmp_path / "v.webm") == (193, 144, None)
    assert display(tmp_path / "a.mkv") == (1408, 1053, 3)
    width, _ = display(tmp_path / "v.mp4")
    assert width * 65536 == round(176 * 128 * 65536 / 117)
    assert pyav(tmp_path / "v.webm")["aspect"] == Fraction(193, 176)
    for name in ("a.mkv", "v.mp4"):
        assert pyav(tmp_path / name)["aspect"] == Fraction(128, 117), name


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="Chromium is not installed")
def test_a_browser_shows_webm_at_its_display_size(anamorphic, model, tmp_path):
    """Chromium's videoWidth x videoHeight of the WebM outputs (VP9, AV1, VP9 with alpha):
    384x288, the picture as shown, not the 352 columns stored."""
    names = {"vp9.webm": {}, "av1.webm": {"codec": "av1"}, "alpha.webm": {"alpha": "webm"}}
    for name, parameters in names.items():
        bgrm.process(anamorphic, tmp_path / name, downsample=0.25, model=model, **parameters)
    page = tmp_path / "page.html"
    page.write_text(
        "<div id=out>pending</div><script>const sizes = {}; const names = "
        + json.dumps(list(names))
        + """; for (const name of names) {
          const video = document.createElement("video");
          video.preload = "metadata";
          video.onloadedmetadata = () => finish(name, video.videoWidth + "x" + video.videoHeight);
          video.onerror = () => finish(name, "error");
          video.src = name;
        }
        function finish(name, size) {
          sizes[name] = size;
          if (Object.keys(sizes).length === names.length)
            document.getElementById("out").textContent = JSON.stringify(sizes);
        }</script>"""
    )
    done = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu",
         "--allow-file-access-from-files", "--virtual-time-budget=20000", "--dump-dom",
         page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    shown = done.stdout.split('<div id="out">', 1)[-1].split("<", 1)[0]
    if not shown.startswith("{"):
        pytest.skip(f"Chromium did not load the page here: {done.stderr[-300:]}")
    assert json.loads(shown) == dict.fromkeys(names, "384x288")


# 8. A still cut out to WebP is the PNG's pixels ---------------------------------------------


def test_a_still_cut_out_to_webp_holds_the_pngs_pixels(samples, model, tmp_path):
    """`alpha` png to .webp and to .png from the same photo, and the matte to both: Pillow
    decodes the same numbers, and no colour where the alpha is 0."""
    with av.open(str(samples["talk"])) as container:
        photo = tmp_path / "photo.jpg"
        next(container.decode(video=0)).to_image().save(photo, quality=95)
    for suffix in (".png", ".webp"):
        bgrm.process(photo, tmp_path / f"cut{suffix}", alpha="png", matte=tmp_path / f"m{suffix}",
                     downsample=1.0, model=model)  # fmt: skip
    png = np.asarray(Image.open(tmp_path / "cut.png").convert("RGBA"))
    webp = np.asarray(Image.open(tmp_path / "cut.webp").convert("RGBA"))
    assert (png[..., 3] == 0).any() and (png[..., 3] == 255).any()  # a person, and room
    assert np.array_equal(webp, png)
    assert not webp[webp[..., 3] == 0][:, :3].any()
    matte = np.asarray(Image.open(tmp_path / "m.png").convert("L"))
    assert np.array_equal(np.asarray(Image.open(tmp_path / "m.webp").convert("L")), matte)
    assert np.array_equal(matte, png[..., 3])
