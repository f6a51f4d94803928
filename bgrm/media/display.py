"""Write a finished file's display size into its header, where PyAV cannot have the muxer do it.

FFmpeg's muxers take a track's display size from the stream's sample aspect ratio, which PyAV
18 cannot set (it sets the codec's: MP4 and MOV carry that in 'pasp', H.264 and HEVC in their
bitstream). So once the muxer is done, bgrm writes what FFmpeg writes for a stream with that
aspect: the MP4 track header's width as shown (MOV keeps the stored width, as FFmpeg does), and
Matroska's DisplayWidth and DisplayHeight (WebM: in pixels; Matroska: the display aspect ratio,
DisplayUnit 3). Both are edits in place: an MP4 track header has a fixed size, and the bytes
Matroska's Tracks grow by come out of the padding (a Void element) that FFmpeg leaves after
its SeekHead; the SeekHead's positions and the CRC-32 elements are written again to match.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

SEGMENT, SEEKHEAD, SEEK, SEEK_POSITION = 0x18538067, 0x114D9B74, 0x4DBB, 0x53AC
VOID, CRC32 = 0xEC, 0xBF
TRACKS, TRACK_ENTRY, TRACK_TYPE, VIDEO, CLUSTER = 0x1654AE6B, 0xAE, 0x83, 0xE0, 0x1F43B675
PIXEL_HEIGHT, DISPLAY_WIDTH, DISPLAY_HEIGHT, DISPLAY_UNIT = 0xBA, 0x54B0, 0x54BA, 0x54B2
DISPLAY_ASPECT_RATIO = 3  # DisplayUnit: DisplayWidth:DisplayHeight is the display aspect ratio
HEAD_BYTES = 1 << 20
"""How much of a Matroska file is read to find its Tracks (FFmpeg writes them in the first KBs)."""

Element = tuple[int, int, int, int]  # an EBML element: id, start, body start, end


def write_display_size(path: Path, muxer: str, width: int, height: int, aspect: Fraction) -> bool:
    """Declare in the finished file at ``path`` (written by FFmpeg's ``muxer``) that its video,
    stored ``width`` x ``height``, is shown with pixels ``aspect`` wide; False if the header is
    not laid out as FFmpeg lays it out (then it is left as it is)."""
    if aspect == 1 or muxer not in ("mp4", "matroska", "webm"):
        return True
    with open(path, "r+b") as file:
        if muxer == "mp4":  # 16.16 fixed point
            return _write_mp4_track_width(file, _shown(width * 0x10000, aspect))
        if muxer == "webm":  # WebM takes pixels only
            display = [(DISPLAY_WIDTH, _shown(width, aspect)), (DISPLAY_HEIGHT, height)]
        else:
            ratio = Fraction(width * aspect.numerator, height * aspect.denominator)
            display = [
                (DISPLAY_WIDTH, ratio.numerator),
                (DISPLAY_HEIGHT, ratio.denominator),
                (DISPLAY_UNIT, DISPLAY_ASPECT_RATIO),
            ]
        try:
            return _write_matroska_display(file, display)
        except (ValueError, IndexError):  # not EBML as FFmpeg writes it
            return False


def _shown(width: int, aspect: Fraction) -> int:
    """``width`` stored pixels as shown, rounded to the nearest, halves up (as FFmpeg rounds)."""
    return (width * aspect.numerator + aspect.denominator // 2) // aspect.denominator


def _write_mp4_track_width(file: BinaryIO, width_1616: int) -> bool:
    """Set the width in the video track's header (tkhd), the last 8 bytes of which are the
    width and height in 16.16 fixed point."""
    moov = _child(file, 0, file.seek(0, os.SEEK_END), b"moov")
    for kind, start, end in _boxes(file, *moov) if moov else ():
        mdia = _child(file, start, end, b"mdia") if kind == b"trak" else None
        handler = _child(file, *mdia, b"hdlr") if mdia else None
        header = _child(file, start, end, b"tkhd")
        if handler and header:
            file.seek(handler[0] + 8)  # version and flags, pre_defined, then handler_type
            if file.read(4) == b"vide":
                file.seek(header[1] - 8)
                file.write(struct.pack(">I", width_1616))
                return True
    return False


def _boxes(file: BinaryIO, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, body start, end) of each MP4 box from ``start`` to ``end``."""
    at = start
    while at + 8 <= end:
        file.seek(at)
        size, kind = struct.unpack(">I4s", file.read(8))
        body = at + 8
        if size == 1:
            size, body = struct.unpack(">Q", file.read(8))[0], body + 8
        elif size == 0:
            size = end - at
        if size < body - at:
            return
        yield kind, body, at + size
        at += size


def _child(file: BinaryIO, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    return next(
        ((body, stop) for name, body, stop in _boxes(file, start, end) if name == kind), None
    )


def _write_matroska_display(file: BinaryIO, display: list[tuple[int, int]]) -> bool:
    """Put ``display`` (element id, value) into the video track's Video element, in place of any
    display size it has. FFmpeg writes SeekHead, Void, Info, Tracks first in the Segment: Info
    and Tracks move into the Void by what Tracks grows, and the SeekHead follows them."""
    head = file.read(HEAD_BYTES)
    segment = next((e for e in _elements(head, 0, len(head)) if e[0] == SEGMENT), None)
    if segment is None:
        return False
    children = []
    for element in _elements(head, segment[2], len(head)):
        children.append(element)
        if element[0] in (TRACKS, CLUSTER):
            break
    kinds = [element[0] for element in children]
    if kinds[:2] != [SEEKHEAD, VOID] or kinds[-1] != TRACKS or children[-1][3] > len(head):
        return False
    seekhead, void, tracks = children[0], children[1], children[-1]
    new_tracks = _rebuilt(head, tracks, lambda entry: _with_display(head, entry, display))
    if new_tracks == head[tracks[1] : tracks[3]]:
        return _has_video(head, tracks)
    grow = len(new_tracks) - (tracks[3] - tracks[1])
    padding = _void(void[3] - void[1] - grow)
    index = _moved(head, seekhead, segment[2], (void[3], tracks[3]), -grow)
    if padding is None or index is None:
        return False
    region = index + padding + head[void[3] : tracks[1]] + new_tracks
    if len(region) != tracks[3] - seekhead[1]:
        return False
    file.seek(seekhead[1])
    file.write(region)
    return True


def _elements(data: bytes, start: int, end: int) -> Iterator[Element]:
    """The EBML elements from ``start`` to ``end`` (an unknown size runs to ``end``)."""
    at = start
    while at < end:
        ident, id_length = _vint(data, at, keep_marker=True)
        size, size_length = _vint(data, at + id_length, keep_marker=False)
        body = at + id_length + size_length
        if size == (1 << 7 * size_length) - 1:
            size = end - body
        yield ident, at, body, body + size
        at = body + size


def _vint(data: bytes, at: int, *, keep_marker: bool) -> tuple[int, int]:
    """An EBML variable-length integer at ``at``: (value, length in bytes)."""
    first = data[at]
    length = 9 - first.bit_length()
    if length > 8:
        raise ValueError(f"not an EBML number at {at}")
    value = first if keep_marker else first & (0xFF >> length)
    for byte in data[at + 1 : at + length]:
        value = value << 8 | byte
    return value, length


def _element(ident: int, body: bytes, size_length: int = 0) -> bytes:
    """An element with its size in ``size_length`` bytes (0 or too few: as few as it takes)."""
    needed = next(n for n in range(1, 9) if len(body) < (1 << 7 * n) - 1)
    length = max(size_length, needed)
    size = (1 << 7 * length | len(body)).to_bytes(length, "big")
    return ident.to_bytes((ident.bit_length() + 7) // 8, "big") + size + body


def _uint(ident: int, value: int) -> bytes:
    return _element(ident, value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def _rebuilt(data: bytes, parent: Element, change: Callable[[Element], bytes | None]) -> bytes:
    """``parent`` again with ``change`` applied to each child (it returns the child's new bytes,
    or None to keep it) and its CRC-32, if it has one, computed again."""
    ident, start, body, end = parent
    children = list(_elements(data, body, end))
    parts = [change(child) or data[child[1] : child[3]] for child in children]
    if children and children[0][0] == CRC32:
        parts[0] = _element(CRC32, zlib.crc32(b"".join(parts[1:])).to_bytes(4, "little"))
    return _element(ident, b"".join(parts), body - start - (ident.bit_length() + 7) // 8)


def _video(data: bytes, entry: Element) -> Element | None:
    """The Video element of ``entry`` if it is a video track's TrackEntry."""
    if entry[0] != TRACK_ENTRY:
        return None
    children = {child[0]: child for child in _elements(data, entry[2], entry[3])}
    kind = children.get(TRACK_TYPE)
    return children.get(VIDEO) if kind and data[kind[2] : kind[3]] == b"\x01" else None


def _has_video(data: bytes, tracks: Element) -> bool:
    return any(_video(data, entry) for entry in _elements(data, tracks[2], tracks[3]))


def _with_display(data: bytes, entry: Element, display: list[tuple[int, int]]) -> bytes | None:
    """A video TrackEntry with ``display`` in its Video element; None for any other element."""
    video = _video(data, entry)
    if video is None:
        return None
    kept = [
        (child[0], data[child[1] : child[3]])
        for child in _elements(data, video[2], video[3])
        if child[0] not in (DISPLAY_WIDTH, DISPLAY_HEIGHT, DISPLAY_UNIT)
    ]
    after = next((n + 1 for n, (ident, _) in enumerate(kept) if ident == PIXEL_HEIGHT), len(kept))
    added = [_uint(ident, value) for ident, value in display]
    body = [raw for _, raw in kept[:after]] + added + [raw for _, raw in kept[after:]]
    new_video = _element(VIDEO, b"".join(body))
    return _rebuilt(data, entry, lambda child: new_video if child[0] == VIDEO else None)


def _void(length: int) -> bytes | None:
    """Padding of ``length`` bytes: a Void element, or nothing; None if it cannot be made."""
    if length == 0:
        return b""
    if length < 2:
        return None
    size_length = 1 if length - 2 < 127 else 8
    return _element(VOID, bytes(length - 1 - size_length), size_length)


def _moved(
    data: bytes, seekhead: Element, origin: int, moved: tuple[int, int], shift: int
) -> bytes | None:
    """The SeekHead with every position inside ``moved`` (absolute; positions count from
    ``origin``) shifted by ``shift``, each in as many bytes as before; its CRC-32 again."""

    def shifted(seek: Element) -> bytes | None:
        if seek[0] != SEEK:
            return None
        patched = bytearray(data[seek[1] : seek[3]])
        for ident, _, body, end in _elements(data, seek[2], seek[3]):
            position = int.from_bytes(data[body:end], "big") if ident == SEEK_POSITION else -1
            if moved[0] <= origin + position < moved[1]:
                position += shift
                if not 0 <= position < 1 << 8 * (end - body):
                    raise OverflowError
                patched[body - seek[1] : end - seek[1]] = position.to_bytes(end - body, "big")
        return bytes(patched)

    try:
        return _rebuilt(data, seekhead, shifted)
    except OverflowError:
        return None
