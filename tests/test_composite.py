"""Backgrounds, blur and compositing on real tensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bgrm.backgrounds import (
    DEFAULT_BLUR_RADIUS,
    BlurSpec,
    ColourSpec,
    ImageSpec,
    VideoSpec,
    open_background,
    parse_background,
)
from bgrm.backgrounds.video import cover
from bgrm.composite import composite, from_uint8_hwc, matte_to_uint8, to_rgba_uint8, to_uint8_hwc
from bgrm.errors import InputError

RED, BLUE = (255, 0, 0), (0, 0, 255)
CPU = torch.device("cpu")


def now(src: torch.Tensor) -> list[float]:
    """A time for every frame of src (the still backgrounds ignore it)."""
    return [0.0] * src.shape[0]


@pytest.mark.parametrize(
    ("spec", "rgb"),
    [
        ("#1e1e1e", (30, 30, 30)),
        ("#fff", (255, 255, 255)),
        ("white", (255, 255, 255)),
        ("DarkSlateGray", (47, 79, 79)),
    ],
)
def test_parse_colour(spec, rgb):
    assert parse_background(spec) == ColourSpec(rgb)


def test_parse_blur():
    assert parse_background("blur") == BlurSpec(DEFAULT_BLUR_RADIUS)
    assert parse_background("blur:25") == BlurSpec(25.0)


@pytest.mark.parametrize("spec", ["nonsense", "#zzz", "blur:-1", "blur:x", "blur:", "blur:nan"])
def test_parse_rejects(spec):
    with pytest.raises(InputError, match=spec):
        parse_background(spec)


def test_parse_missing_image_names_path(tmp_path):
    missing = tmp_path / "beach.jpg"
    with pytest.raises(InputError, match="background image not found") as caught:
        parse_background(str(missing))
    assert str(missing) in str(caught.value)


def test_existing_file_wins_over_colour_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Image.new("RGB", (4, 4)).save(tmp_path / "white", format="PNG")
    assert parse_background("white") == ImageSpec(Path("white"))


def test_video_suffix_is_a_video_background(tmp_path):
    clip = tmp_path / "clip.MOV"
    clip.write_bytes(b"\0")
    assert parse_background(str(clip)) == VideoSpec(clip)


def _quarters(path):
    """A 200x100 image, 50-column stripes green | red | blue | white."""
    stripes = [(0, 255, 0), RED, BLUE, (255, 255, 255)]
    pixels = np.repeat(np.array(stripes, dtype=np.uint8), 50, axis=0)  # [200, 3]
    Image.fromarray(np.broadcast_to(pixels, (100, 200, 3)).copy()).save(path)
    return ImageSpec(path)


def _column_colours(bg, columns):
    """bg [1, 3, H, W] -> the uint8 colours in those columns, [H, len(columns), 3]."""
    return to_uint8_hwc(bg)[0, :, columns].reshape(bg.shape[2], -1, 3)


def _expect(block, rgb, tolerance):
    assert (block.int() - torch.tensor(rgb)).abs().max() <= tolerance


def test_image_cover_square_frame_is_centre_crop(tmp_path):
    spec = _quarters(tmp_path / "bg.png")
    src, pha = torch.zeros(2, 3, 100, 100), torch.zeros(2, 1, 100, 100)
    bg = open_background(spec, 100, 100, CPU).frames(src, pha, now(src))
    assert bg.shape == (2, 3, 100, 100)
    # Centre crop: red then blue, 50 columns each; a stretch would show all four stripes.
    _expect(_column_colours(bg[:1], slice(0, 48)), RED, 2)
    _expect(_column_colours(bg[:1], slice(52, 100)), BLUE, 2)


def test_image_cover_portrait_frame_is_scaled_up_and_cropped(tmp_path):
    spec = _quarters(tmp_path / "bg.png")
    bg = open_background(spec, 300, 100, CPU).frames(
        torch.zeros(1, 3, 300, 100), torch.zeros(1, 1, 300, 100), [0.0]
    )
    assert bg.shape == (1, 3, 300, 100)
    # Scaled 3x: the red/blue boundary sits in the middle, each side ~50 columns wide.
    _expect(_column_colours(bg, slice(0, 40)), RED, 3)
    _expect(_column_colours(bg, slice(60, 100)), BLUE, 3)


def test_unreadable_image(tmp_path):
    fake = tmp_path / "fake.png"
    fake.write_text("not an image\n")
    spec = parse_background(str(fake))
    with pytest.raises(InputError, match="cannot read background image") as caught:
        open_background(spec, 10, 10, CPU)
    assert str(fake) in str(caught.value)


def test_colour_background_is_a_view():
    src, pha = torch.zeros(4, 3, 8, 6), torch.zeros(4, 1, 8, 6)
    bg = open_background(ColourSpec((255, 0, 51)), 8, 6, CPU)
    frames = bg.frames(src, pha, now(src))
    assert frames.shape == (4, 3, 8, 6)
    assert frames.untyped_storage().nbytes() == 3 * 4
    assert torch.equal(frames[3, :, 7, 5], torch.tensor([1.0, 0.0, 0.2]))


def test_composite_ends_and_middle():
    fgr, bg = torch.rand(2, 3, 5, 7), torch.rand(2, 3, 5, 7)
    ones = torch.ones(2, 1, 5, 7)
    assert torch.equal(composite(fgr, ones, bg), fgr)
    assert torch.equal(composite(fgr, ones * 0, bg), bg)
    torch.testing.assert_close(composite(fgr, ones * 0.5, bg), (fgr + bg) / 2)


def _room_with_person(height=270, width=480, room=0.1, box=(60, 220, 160, 320)):
    """A dark uniform room with a bright white square 'person' (pha = 1) inside box."""
    top, bottom, left, right = box
    src = torch.full((1, 3, height, width), room)
    pha = torch.zeros(1, 1, height, width)
    src[..., top:bottom, left:right] = 1.0
    pha[..., top:bottom, left:right] = 1.0
    return src, pha


def test_blur_leaves_no_halo_of_the_person():
    src, pha = _room_with_person()
    blur = open_background(BlurSpec(40), 270, 480, CPU)
    bg = blur.frames(src, pha, now(src))
    plain = blur.frames(src, torch.zeros_like(pha), now(src))
    assert bg.shape == src.shape and torch.isfinite(bg).all()
    ring = (slice(None), slice(None), slice(60, 220), slice(154, 160))  # just left of the person
    assert plain[ring].min() > 0.2  # a plain blur smears the person into the room
    assert (bg[ring] - 0.1).abs().max() < 0.02  # the normalised one does not
    torch.testing.assert_close(bg[..., :, :60], torch.full_like(bg[..., :, :60], 0.1))
    # Deep inside the person the plain blur takes over: bright, no hole.
    assert bg[..., 130:150, 230:250].min() > 0.9


def test_blur_smooths_the_room_and_keeps_its_mean():
    room = (torch.arange(480) // 4 % 2).float().expand(1, 3, 270, 480).contiguous()
    bg = open_background(BlurSpec(25), 270, 480, CPU).frames(
        room, torch.zeros(1, 1, 270, 480), now(room)
    )
    inner = bg[..., 20:-20, 20:-20]  # a one-sided average near the edges leans to the last stripe
    assert inner.std() < 0.02 * room.std()
    assert abs(bg.mean().item() - 0.5) < 0.01
    assert bg.min() > 0.3 and bg.max() < 0.7


def test_blur_radius_scales_with_frame_height():
    def blurred_step(height):
        """A black | white room blurred at this height -> its middle row, [width]."""
        room = torch.zeros(1, 3, height, 2 * height)
        room[..., height:] = 1.0
        blur = open_background(BlurSpec(60), height, 2 * height, CPU)
        return blur.frames(room, torch.zeros(1, 1, height, 2 * height), [0.0])[0, 0, height // 2]

    small, large = blurred_step(135), blurred_step(540)
    torch.testing.assert_close(large.view(-1, 4).mean(1), small, atol=0.02, rtol=0)
    assert 0.1 < small[135 - 8] < 0.4  # a 60 px radius at 1080p is 7.5 px at 135 rows


def test_uint8_round_trip_is_exact():
    pixels = torch.randint(0, 256, (2, 7, 5, 3), dtype=torch.uint8)
    pixels[0, 0, 0] = torch.tensor([0, 128, 255], dtype=torch.uint8)
    for dtype in (torch.float32, torch.float16):
        frames = from_uint8_hwc(pixels, dtype)
        assert frames.shape == (2, 3, 7, 5) and frames.dtype == dtype
        assert frames.is_contiguous() and frames.min() >= 0 and frames.max() <= 1
        back = to_uint8_hwc(frames)
        assert back.is_contiguous() and torch.equal(back, pixels)


def test_to_uint8_rounds_and_clamps():
    x = torch.tensor([-0.5, 0.0, 0.499 / 255, 0.501 / 255, 1.0, 1.5]).view(6, 1, 1, 1)
    out = to_uint8_hwc(x.expand(6, 3, 1, 1))  # [6, 1, 1, 3]
    assert out[:, 0, 0, 0].tolist() == [0, 0, 0, 1, 255, 255]


def test_transparent_image_shows_the_blurred_room_through(tmp_path):
    """Left half opaque red, right half fully transparent: there the room (blurred) shows."""
    pixels = np.zeros((100, 200, 4), np.uint8)
    pixels[:, :100] = (255, 0, 0, 255)
    Image.fromarray(pixels, "RGBA").save(tmp_path / "frame.png")
    src, pha = _room_with_person(100, 200, room=0.4, box=(40, 60, 150, 170))
    bg = open_background(ImageSpec(tmp_path / "frame.png"), 100, 200, CPU)
    frames = bg.frames(src, pha, now(src))
    _expect(_column_colours(frames, slice(0, 90)), RED, 3)
    right = frames[..., 5:35, 110:195]  # the room, away from the person: still its grey
    torch.testing.assert_close(right, torch.full_like(right, 0.4), atol=0.02, rtol=0)


def test_opaque_rgba_image_is_a_still(tmp_path):
    Image.new("RGBA", (8, 8), (0, 0, 255, 255)).save(tmp_path / "opaque.png")
    bg = open_background(ImageSpec(tmp_path / "opaque.png"), 8, 8, CPU)
    frames = bg.frames(torch.zeros(2, 3, 8, 8), torch.zeros(2, 1, 8, 8), [0.0, 0.0])
    assert frames.untyped_storage().nbytes() == 3 * 8 * 8 * 4  # one picture, viewed twice


def test_cover_scales_and_centre_crops_never_stretches():
    frames = torch.zeros(2, 3, 10, 40)  # 4:1, red in columns 15..19 only
    frames[:, 0, :, 15:20] = 1.0
    out = cover(frames, 20, 20)  # 1:1 -> the middle 10x10 (columns 15..24), scaled 2x
    assert out.shape == (2, 3, 20, 20)
    assert out[:, 0, :, :8].min() > 0.99 and out[:, 0, :, 12:].max() < 0.01
    assert cover(frames, 10, 40) is frames


def test_rgba_zeroes_colour_where_alpha_rounds_to_zero():
    fgr = torch.rand(2, 3, 4, 5) * 0.5 + 0.25
    pha = torch.tensor([0.0, 0.001, 0.003, 0.5, 1.0]).expand(2, 1, 4, 5)
    rgba = to_rgba_uint8(fgr, pha)
    assert rgba.shape == (2, 4, 5, 4) and rgba.dtype == torch.uint8
    assert torch.equal(rgba[..., 3], matte_to_uint8(pha))
    assert rgba[..., 3][0, 0].tolist() == [0, 0, 1, 128, 255]
    assert rgba[..., :2, :3].eq(0).all()  # alpha 0 and 0.001 (rounds to 0): black
    assert torch.equal(rgba[..., 2:, :3], to_uint8_hwc(fgr)[..., 2:, :])
