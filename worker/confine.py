"""Confinement: a job reads only under the input roots and writes only under the output root.

Paths are resolved (symlinks followed, ``..`` removed) before they are compared, so neither a
``..`` nor a symlink leads out. Every task kind checks its job (and a split job's parts folder)
before anything is opened or written.
"""

from __future__ import annotations

from pathlib import Path

from bgrm import InputError, Job, OutputError


def check(job: Job, input_roots: tuple[Path, ...], output_root: Path) -> None:
    """Raise InputError/OutputError naming the path and the allowed folders, or return."""
    allowed_in = ", ".join(str(root) for root in input_roots)
    for name, path in job.reads().items():
        if not _inside(path, input_roots):
            raise InputError(
                f"{name} is outside the folders this worker may read ({allowed_in}): {path}"
            )
    for name, path in job.writes().items():
        check_written(name, path, output_root)


def check_written(name: str, path: Path, output_root: Path) -> None:
    """Raise OutputError unless ``path`` (called ``name``) is under ``output_root``."""
    if not _inside(path, (output_root,)):
        raise OutputError(
            f"{name} is outside the folder this worker may write ({output_root}): {path}"
        )


def _inside(path: Path, roots: tuple[Path, ...]) -> bool:
    resolved = path.expanduser().resolve()
    return any(resolved.is_relative_to(root) for root in roots)
