"""The README's pictures of the studio finish: light wrap, the grayscale room, a preview sheet.

    python samples/studio.py     # writes docs/light-wrap.png, docs/grayscale.png, docs/preview.png

A frame of the real sample goes through bgrm as a still image (lossless, so the crops show
exactly what bgrm computes); the preview is `bgrm.preview` of the whole sample.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import av
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bgrm  # noqa: E402
from samples.fetch import fetch_samples  # noqa: E402

DOCS = ROOT / "docs"
FRAME = 40
CROP = (40, 0, 140, 80)  # the head and shoulder against the room, in the 176x144 frame
ZOOM = 4


def _frame(video: Path, index: int, target: Path) -> Path:
    with av.open(str(video)) as container:
        for number, frame in enumerate(container.decode(video=0)):
            if number == index:
                frame.to_image().save(target)
                return target
    raise SystemExit(f"{video} has fewer than {index + 1} frames")


def _side_by_side(
    pictures: list[Image.Image], crop: tuple[int, int, int, int] | None
) -> Image.Image:
    if crop is not None:
        pictures = [p.crop(crop) for p in pictures]
    width, height = pictures[0].size
    sheet = Image.new("RGB", (width * len(pictures), height))
    for index, picture in enumerate(pictures):
        sheet.paste(picture.convert("RGB"), (index * width, 0))
    return sheet.resize((sheet.width * ZOOM, sheet.height * ZOOM), Image.NEAREST)


def main() -> None:
    files = fetch_samples(ROOT / "samples" / "media")
    model = bgrm.load_model()
    DOCS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bgrm-studio-") as tmp:
        still = _frame(files["talk"], FRAME, Path(tmp) / "frame.png")
        plain, wrapped, gray = (Path(tmp) / name for name in ("plain.png", "wrap.png", "gray.png"))
        common = {"downsample": 1.0, "model": model}
        bgrm.process(still, plain, background=files["background"], **common)
        bgrm.process(still, wrapped, background=files["background"], light_wrap=0.8, **common)
        bgrm.process(still, gray, background="grayscale", **common)
        crops = [Image.open(plain), Image.open(wrapped)]
        _side_by_side(crops, CROP).save(DOCS / "light-wrap.png")
        _side_by_side([Image.open(still), Image.open(gray)], None).save(DOCS / "grayscale.png")
    bgrm.preview(files["talk"], DOCS / "preview.png", background=files["background"],
                 light_wrap=0.5, overwrite=True, model=model)  # fmt: skip
    for name in ("light-wrap.png", "grayscale.png", "preview.png"):
        print(DOCS / name)


if __name__ == "__main__":
    main()
