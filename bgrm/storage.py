"""Writing a file whole: a local temp whose content appears at a Place only when its writer
succeeds (a rename beside a local target; an upload, multipart when large and aborted on
failure, for an object), and removing what writers that did not succeed left behind.
Reading, listing and removing are the Place's own (bgrm/places.py).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from bgrm import files
from bgrm.errors import OutputError, UsageError
from bgrm.places import Place

MAX_KEY_BYTES = 1024
"""The longest key S3 takes (UTF-8 bytes); GCS takes as long, Azure longer."""


def write_bytes(
    where: str | os.PathLike, data: bytes, *, overwrite: bool = True, role: str = "file"
) -> None:
    """Put a small file at once (a marker): it is either all there or not at all."""
    place = Place.of(where)
    if place.is_url:
        with place._objects(role, writing=True) as objects:
            objects.put_bytes(place.scheme, place.bucket, place.key, data, overwrite=overwrite)
        return
    with write(place, overwrite=overwrite, role=role) as temp:
        temp.write_bytes(data)


@contextlib.contextmanager
def write(
    where: str | os.PathLike,
    *,
    overwrite: bool = False,
    folder: bool = False,
    last: str | None = None,
    role: str = "output",
) -> Iterator[Path]:
    """Yield a local temp path (an empty folder with ``folder``) whose content appears at
    ``where`` only when the block succeeds; on any error nothing appears and the temp is gone.

    The same as a :class:`Pending` committed at the end of the block (see there).
    """
    pending = Pending(where, overwrite=overwrite, folder=folder, last=last, role=role)
    try:
        yield pending.temp
        pending.commit()
    finally:
        pending.discard()


class Pending:
    """A local temp path (an empty folder with ``folder``) whose content ``commit()`` puts at
    ``where``; ``discard()`` removes the temp (after a commit, or instead of one).

    An existing target is refused (OutputError) at once and again at the commit unless
    ``overwrite``. The temp keeps the target's suffix (muxers are picked by it). A local
    target is replaced by a rename from a hidden temp beside it (bgrm/files.py names it). A URL
    gets an upload of the finished file (multipart above buckets.UPLOAD_PART, aborted on
    failure), or of the folder's files with ``last`` (e.g. a sidecar that readers look for)
    put only after all the others: a folder in a bucket cannot appear at once, so that file is
    its commit; a folder upload that fails removes what it put (with ``overwrite``, the old
    folder too).
    """

    def __init__(
        self,
        where: str | os.PathLike,
        *,
        overwrite: bool = False,
        folder: bool = False,
        last: str | None = None,
        role: str = "output",
    ) -> None:
        place = Place.of(where)
        if place.is_url and not place.key:
            raise UsageError(f"the {role} must be a key, not a whole bucket: {place}")
        refuse_existing(place, overwrite, folder, role)
        if place.is_url:
            self._scratch = files.temp_path(_staging())
            self._scratch.mkdir()
            self.temp = self._scratch / place.name
        else:
            parent = place.path.parent
            if not parent.is_dir():
                raise OutputError(f"the {role}'s folder does not exist: {parent}")
            self.temp = self._scratch = files.temp_path(place.path)
        self.place = place
        self._options = (overwrite, folder, last, role)
        if folder:
            self.temp.mkdir()

    def commit(self) -> None:
        """Put the finished temp at the target."""
        overwrite, folder, last, role = self._options
        place = self.place
        refuse_existing(place, overwrite, folder, role)
        if not place.is_url:
            files.move_into_place(self.temp, place.path)
        elif folder:
            _upload_folder(place, self.temp, last, role)
        else:
            with place._objects(role, writing=True) as objects:
                objects.upload_file(
                    place.scheme, place.bucket, place.key, self.temp, overwrite=overwrite
                )

    def discard(self) -> None:
        """Remove the local temp, if it is still there."""
        files.remove(self._scratch)


def _staging() -> Path:
    """The name the local scratch folders of uploads are made beside (in TMPDIR), each named
    after its writer (bgrm/files.py) so that a killed writer's can be found and removed."""
    return Path(tempfile.gettempdir()) / "bgrm-upload"


def staged_leftovers() -> list[Path]:
    """The local scratch folders of uploads in TMPDIR (this run's and crashed runs')."""
    return files.leftovers([_staging()])


def check_writable(where: str | os.PathLike, role: str = "output") -> None:
    """Refuse a target that cannot be written, before any work (OutputError, one line): a
    key longer than a bucket takes; a name whose temp file is too long for the file system
    it is made on (a local target's hidden temp beside it is ~45 bytes longer than its name;
    an object is staged under its own name in TMPDIR); a local folder missing or read-only
    (a bucket has no folders to make)."""
    place = Place.of(where)
    if place.is_url:
        size = len(place.key.encode())
        if size > MAX_KEY_BYTES:
            raise OutputError(
                f"the {role}'s key is too long ({size} bytes; a bucket takes at most "
                f"{MAX_KEY_BYTES}): {place}"
            )
        temp, folder = place.name, _staging().parent
    else:
        temp, folder = files.temp_path(place.path).name, place.path.parent
    size, limit = len(os.fsencode(temp)), longest_name(folder)
    if size > limit:
        where_made = "in TMPDIR" if place.is_url else "beside it"
        raise OutputError(
            f"the {role}'s name is too long: its temp file {where_made} would have {size} "
            f"bytes, the file system takes {limit}: {place}"
        )
    if place.is_url:
        return
    if not folder.is_dir():
        raise OutputError(f"{role} folder does not exist: {folder}")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"{role} folder is not writable: {folder}")


def name_too_long(where: str | os.PathLike) -> tuple[int, int] | None:
    """(bytes, the most that fit) where a name is too long for where it is made: a local
    name for its folder's file system, a key for a bucket; None where it fits."""
    place = Place.of(where)
    if place.is_url:
        size, limit = len(place.key.encode()), MAX_KEY_BYTES
    else:
        size, limit = len(os.fsencode(place.name)), longest_name(place.path.parent)
    return (size, limit) if size > limit else None


def longest_name(folder: Path) -> int:
    """The longest file name the file system of ``folder`` takes (255 where it cannot say)."""
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def refuse_existing(
    where: str | os.PathLike, overwrite: bool, folder: bool = False, role: str = "output"
) -> None:
    """OutputError "{role} exists" when something is at ``where`` and not ``overwrite`` (an
    empty local folder may be filled)."""
    place = Place.of(where)
    if overwrite or not place.exists(role, writing=True):
        return
    if folder and not place.is_url and place.path.is_dir() and not any(place.path.iterdir()):
        return  # an empty folder may be filled
    raise OutputError(f"{role} exists (pass `overwrite` to replace it): {place}")


def _upload_folder(place: Place, folder: Path, last: str | None, role: str) -> None:
    """Put every file of ``folder`` below the prefix, ``last`` after all others; stale keys
    of an old folder there are deleted before ``last`` goes up."""
    pairs = [
        (f"{place.key}/{path.relative_to(folder).as_posix()}", path)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    ]
    commit = [pair for pair in pairs if last is not None and pair[0] == f"{place.key}/{last}"]
    rest = [pair for pair in pairs if pair not in commit]
    scheme, bucket = place.scheme, place.bucket
    with place._objects(role, writing=True) as objects:
        old = set(objects.keys_under(scheme, bucket, place.key))
    try:
        with place._objects(role, writing=True) as objects:
            objects.delete(scheme, bucket, [key for key, _ in commit if key in old])
            objects.upload_files(scheme, bucket, rest)
            objects.delete(scheme, bucket, sorted(old - {key for key, _ in pairs}))
            objects.upload_files(scheme, bucket, commit)
    except BaseException:
        place.remove()
        raise


class Leftovers(NamedTuple):
    """What :func:`remove_leftovers` removed."""

    temps: list[Place]  # local temp files and folders of writers that did not finish
    uploads: list[Place]  # the objects whose incomplete multipart uploads were aborted


def remove_leftovers(
    targets: Iterable[str | os.PathLike], older_than: float, folder: Place | None = None
) -> Leftovers:
    """Delete what interrupted writers of ``targets`` left: hidden temps beside a local
    target (and inside a local ``folder``), at once where their writer is gone, else when
    untouched for ``older_than`` seconds (a live writer keeps touching its own); the local
    scratch folders in TMPDIR of uploads whose writer is gone, where a target is an object;
    and every incomplete multipart upload of an object target (a killed or cut-off upload's;
    another writer of the same key would race with this one anyway)."""
    places = [Place.of(target) for target in targets]
    local = [place.path for place in places if not place.is_url]
    found = files.leftovers(local)
    if folder is not None and not folder.is_url and folder.path.is_dir():
        found += folder.path.glob(".*")
    temps = list(files.remove_leftovers(found, older_than))
    if len(local) < len(places):  # only a gone writer's: a live one's is not touched
        temps += files.remove_leftovers(staged_leftovers(), float("inf"))
    uploads = [upload for place in places for upload in place.abort_uploads()]
    return Leftovers([Place.of(temp) for temp in temps], uploads)
