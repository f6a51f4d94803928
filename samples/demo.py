"""The README demo: a real talking-head clip, its background replaced, and a before/after picture.

python samples/demo.py                 # writes samples/media/talk.photo.mp4, .blur.mp4, demo.png
python samples/demo.py --update-docs   # also replaces the README's picture, docs/demo.png
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import av
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from samples.fetch import fetch_samples  # noqa: E402

MEDIA = ROOT / "samples" / "media"
PICTURE = MEDIA / "demo.png"
DOCS_PICTURE = ROOT / "docs" / "demo.png"
FRAME = 40
OUTPUTS = {"image": "talk.photo.mp4", "blur": "talk.blur.mp4"}
"""What the demo writes into samples/media, by kind. Not the default output name (talk.bgrm.mp4),
which the README's first example writes after it."""


def _frame(path: Path, index: int) -> Image.Image:
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                return frame.to_image()
    raise SystemExit(f"{path} has fewer than {index + 1} frames")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--update-docs", action="store_true", help="also replace docs/demo.png (tracked)"
    )
    update_docs = parser.parse_args().update_docs
    files = fetch_samples(MEDIA)
    outputs = {kind: MEDIA / name for kind, name in OUTPUTS.items()}
    bgrm = [sys.executable, "-m", "bgrm"]
    subprocess.run(
        [
            *bgrm,
            "process",
            str(files["talk"]),
            "--bg",
            str(files["background"]),
            "-o",
            str(outputs["image"]),
            "-y",
        ],
        check=True,
    )
    subprocess.run(
        [*bgrm, "process", str(files["talk"]), "--bg", "blur", "-o", str(outputs["blur"]), "-y"],
        check=True,
    )
    stills = [
        _frame(files["talk"], FRAME),
        _frame(outputs["image"], FRAME),
        _frame(outputs["blur"], FRAME),
    ]
    width, height = stills[0].size
    picture = Image.new("RGB", (width * len(stills), height))
    for i, still in enumerate(stills):
        picture.paste(still, (i * width, 0))
    picture.resize((picture.width * 2, picture.height * 2), Image.LANCZOS).save(PICTURE)
    print(f"before/after: {PICTURE}")
    if update_docs:
        shutil.copy(PICTURE, DOCS_PICTURE)
        print(f"replaced {DOCS_PICTURE}")
    for name, path in outputs.items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
