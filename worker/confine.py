"""Confinement: a job reads only under the input roots and writes only under the output root.

Roots are folders or URL prefixes (s3://bucket/prefix). Local paths are resolved (symlinks
followed, ``..`` removed) before they are compared, so neither a ``..`` nor a symlink leads
out; a URL is inside a prefix of the same bucket by whole key segments.
Every task kind checks its job (and a split job's parts folder) before anything is opened
or written.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from bgrm import InputError, Job, OutputError, Place


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
    if path.same(output_root):
        raise OutputError(
            f"{name} is the folder this worker writes in, not a file in it ({output_root}): {path}"
        )


def inside(where: str | os.PathLike, roots: Iterable[str | os.PathLike]) -> bool:
    """Whether ``where`` lies in one of ``roots`` (folders or URL prefixes).

    Local paths are resolved first (symlinks followed, ``..`` removed). A URL is inside a
    prefix of the same bucket when its key is the prefix or continues it after a "/", so
    s3://media/in2/x is not inside s3://media/in; URL keys never hold ``..`` (Place.of).
    """
    place = Place.of(where).resolve()
    for root in (Place.of(root).resolve() for root in roots):
        if (root.scheme, root.bucket) != (place.scheme, place.bucket):
            continue
        if not place.is_url:
            if place.path.is_relative_to(root.path):
                return True
        elif not root.key or place.key == root.key or place.key.startswith(root.key + "/"):
            return True
    return False
