"""Confinement: a job reads only under the input roots and writes only under the output root.

Roots are folders or URL prefixes (s3://bucket/prefix). Local paths are resolved (symlinks
followed, ``..`` removed) before they are compared, so neither a ``..`` nor a symlink leads
out; a URL is inside a prefix of the same bucket by whole key segments (bgrm.inside).
Every task kind checks its job (and a split job's parts folder) before anything is opened
or written.
"""

from __future__ import annotations

from bgrm import InputError, Job, OutputError, Place, inside, same


def check(job: Job, input_roots: tuple[Place, ...], output_root: Place) -> None:
    """Raise InputError/OutputError naming the path and the allowed folders, or return."""
    allowed_in = ", ".join(str(root) for root in input_roots)
    for name, path in job.reads().items():
        if not inside(path, input_roots):
            raise InputError(
                f"{name} is outside the folders this worker may read ({allowed_in}): {path}"
            )
    for name, path in job.writes().items():
        check_written(name, path, output_root)


def check_written(name: str, path: Place, output_root: Place) -> None:
    """Raise OutputError unless ``path`` (called ``name``) is under ``output_root``, and not
    the root itself (writing it would replace the whole folder)."""
    if not inside(path, (output_root,)):
        raise OutputError(
            f"{name} is outside the folder this worker may write ({output_root}): {path}"
        )
    if same(path, output_root):
        raise OutputError(
            f"{name} is the folder this worker writes in, not a file in it ({output_root}): {path}"
        )
