"""Confinement: a job reads only under the input roots and writes only under the output root.

Paths are resolved (symlinks followed, ``..`` removed) before they are compared, so neither a
``..`` nor a symlink leads out. Every check happens before anything is opened or written.
"""

from __future__ import annotations

from pathlib import Path

from bgrm.composite import ImageBackground, VideoBackground, parse_background
from bgrm.errors import InputError, OutputError
from bgrm.options import ProcessOptions


def check(options: ProcessOptions, input_roots: tuple[Path, ...], output_root: Path) -> None:
    """Raise InputError/OutputError naming the path and the allowed folders, or return."""
    allowed_in = ", ".join(str(root) for root in input_roots)
    if not _inside(Path(options.input), input_roots):
        raise InputError(
            f"input is outside the folders this worker may read ({allowed_in}): {options.input}"
        )
    output = options.output_path()
    if not _inside(output, (output_root,)):
        raise OutputError(
            f"output is outside the folder this worker may write ({output_root}): {output}"
        )
    if options.matte and not _inside(Path(options.matte), (output_root,)):
        raise OutputError(
            f"matte is outside the folder this worker may write ({output_root}): {options.matte}"
        )
    background = _background_file(options.background)
    if background is not None and not _inside(background, input_roots):
        raise InputError(
            f"background is outside the folders this worker may read ({allowed_in}): "
            f"{options.background}"
        )


def _inside(path: Path, roots: tuple[Path, ...]) -> bool:
    resolved = path.expanduser().resolve()
    return any(resolved.is_relative_to(root) for root in roots)


def _background_file(spec: str | None) -> Path | None:
    """The file a --bg names, or None for a colour or blur.

    A spec that names no usable background but looks like a path (a folder or a suffix) is
    checked as a path too, so whether a file outside the roots exists is never revealed.
    """
    if spec is None:
        return None
    try:
        parsed = parse_background(spec)
    except InputError:
        path = Path(spec).expanduser()
        return path if path.suffix or len(path.parts) > 1 else None
    return parsed.path if isinstance(parsed, (ImageBackground, VideoBackground)) else None
