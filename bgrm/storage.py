"""Where bytes live: a local path or an object-store URL; nothing else knows the difference.

A ``Location`` is a local path or ``s3://bucket/key`` (also gs://, az://). Reading opens a
seekable binary file (ranged GETs for a URL, so PyAV fetches only what it decodes); writing
goes to a local temp path that appears at the location only when the block succeeds (a
rename beside a local target; an upload, multipart when large and aborted on failure, for a
URL). The object-store library (obstore, ``pip install 'bgrm[s3]'``) is imported only when a
URL is used, so ``import bgrm`` stays light.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from bgrm import files
from bgrm.errors import EnvironmentProblem, InputError, OutputError, UsageError
from bgrm.places import Location, Where

MAX_KEY_BYTES = 1024
"""The longest key S3 takes (UTF-8 bytes); GCS takes as long, Azure longer."""


def _buckets():
    """The object-store module, imported on first use of a URL."""
    try:
        from bgrm import buckets
    except ImportError as error:
        raise EnvironmentProblem(
            "object-store URLs need the s3 extra: pip install 'bgrm[s3]'"
        ) from error
    return buckets


def _url_call(location: Location, role: str, call, *args, writing: bool = False, **kwargs):
    """Run ``buckets.call(scheme, bucket, *args)`` with its errors turned into one line."""
    buckets = _buckets()
    with buckets.errors(str(location), location.scheme, role, writing=writing):
        return getattr(buckets, call)(location.scheme, location.bucket, *args, **kwargs)


def open_read(where: Where, *, role: str = "input", block: int | None = None) -> BinaryIO:
    """A seekable binary file of ``where``'s bytes; InputError "{role} not found: ..." etc.

    For a URL, reads are ranged GETs of ``block`` bytes (buckets.READ_BLOCK by default),
    so a decoder that seeks fetches only the blocks it touches.
    """
    location = Location.of(where)
    if location.is_url:
        block = block or _buckets().READ_BLOCK
        return _url_call(location, role, "open_reader", location.key, block, role)
    try:
        return open(location.path, "rb")
    except FileNotFoundError as error:
        raise InputError(f"{role} not found: {location}") from error
    except IsADirectoryError as error:
        raise InputError(f"{role} is a folder, not a file: {location}") from error
    except PermissionError as error:
        raise InputError(f"cannot read the {role} (permission denied): {location}") from error


def check_local_file(path: Path) -> None:
    """InputError unless the input ``path`` is a regular file that can be looked at: not
    found, a folder, a FIFO or a device, or a name the system refuses (too long, no access)."""
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise InputError(f"input file not found: {path}") from None
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or error
        raise InputError(f"cannot read the input ({reason}): {path}") from None
    if stat.S_ISDIR(mode):
        raise InputError(f"input is a folder, not a video file: {path}")
    if not stat.S_ISREG(mode):
        raise InputError(f"input is not a regular file: {path}")


def read_bytes(where: Where, *, role: str = "input") -> bytes:
    """The whole content of a small file (a marker, a sidecar)."""
    location = Location.of(where)
    if location.is_url:
        return _url_call(location, role, "get", location.key)
    with open_read(location, role=role) as file:
        return file.read()


def take(where: Where, path: Path) -> None:
    """Bring a file to the local ``path``: renamed when it is local, else downloaded (the
    object stays; its folder is removed as a whole)."""
    location = Location.of(where)
    if location.is_url:
        path.write_bytes(read_bytes(location))
    else:
        os.replace(location.path, path)


def size(where: Where, *, role: str = "input") -> int:
    """The size of a file in bytes."""
    location = Location.of(where)
    if location.is_url:
        return _url_call(location, role, "size", location.key)
    try:
        return location.path.stat().st_size
    except FileNotFoundError as error:
        raise InputError(f"{role} not found: {location}") from error


def exists(where: Where) -> bool:
    """Whether a file or a non-empty folder (a key, or keys below the prefix) is there."""
    return _exists(Location.of(where), "file", writing=False)


def is_folder(where: Where, *, role: str = "output") -> bool:
    """Whether ``where`` is a folder: locally a directory, in a bucket a prefix with keys
    (asked of outputs: an error names the ``role`` being written)."""
    location = Location.of(where)
    if not location.is_url:
        return location.path.is_dir()
    return _url_call(location, role, "any_under", location.key, writing=True)


def _exists(location: Location, role: str, *, writing: bool) -> bool:
    if not location.is_url:
        return location.path.exists()
    key = location.key
    return _url_call(location, role, "is_object", key, writing=writing) or _url_call(
        location, role, "any_under", key, writing=writing
    )


def children(where: Where) -> list[Location]:
    """The files and folders directly inside a folder, by name (empty when it is missing)."""
    location = Location.of(where)
    if location.is_url:
        names = _url_call(location, "folder", "names_in", location.key)
    elif location.path.is_dir():
        names = sorted(entry.name for entry in os.scandir(location.path))
    else:
        names = []
    return [location / name for name in names]


def remove(where: Where) -> None:
    """Delete a file, or a folder and all below it; nothing there is no error."""
    location = Location.of(where)
    if not location.is_url:
        path = location.path
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        return
    if not location.key:
        raise UsageError(f"will not empty a whole bucket: {location}")
    below = _url_call(location, "folder", "keys_under", location.key, writing=True)
    keys = below + ([location.key] if location.key else [])
    _url_call(location, "folder", "delete", keys, writing=True)
    abort_uploads(location)


def abort_uploads(where: Where) -> list[Location]:
    """Abort the incomplete multipart uploads of an object and of every key below it (what a
    killed or cut-off upload leaves: invisible, but stored and billed until aborted); returns
    the objects whose uploads were aborted. Nothing to do for a local path; best effort for
    a URL (s3:// only: see bgrm/buckets.py)."""
    location = Location.of(where)
    if not location.is_url or not location.key:
        return []
    keys = _buckets().abort_uploads(location.scheme, location.bucket, location.key, below=True)
    return [Location(location.scheme, location.bucket, key) for key in keys]


def write_bytes(where: Where, data: bytes, *, overwrite: bool = True, role: str = "file") -> None:
    """Put a small file at once (a marker): it is either all there or not at all."""
    location = Location.of(where)
    if location.is_url:
        _url_call(
            location, role, "put_bytes", location.key, data, overwrite=overwrite, writing=True
        )
        return
    with write(location, overwrite=overwrite, role=role) as temp:
        temp.write_bytes(data)


@contextlib.contextmanager
def write(
    where: Where,
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
        where: Where,
        *,
        overwrite: bool = False,
        folder: bool = False,
        last: str | None = None,
        role: str = "output",
    ) -> None:
        location = Location.of(where)
        if location.is_url and not location.key:
            raise UsageError(f"the {role} must be a key, not a whole bucket: {location}")
        refuse_existing(location, overwrite, folder, role)
        if location.is_url:
            self._scratch = files.temp_path(_staging())
            self._scratch.mkdir()
            self.temp = self._scratch / location.name
        else:
            parent = location.path.parent
            if not parent.is_dir():
                raise OutputError(f"the {role}'s folder does not exist: {parent}")
            self.temp = self._scratch = files.temp_path(location.path)
        self.location = location
        self._options = (overwrite, folder, last, role)
        if folder:
            self.temp.mkdir()

    def commit(self) -> None:
        """Put the finished temp at the target."""
        overwrite, folder, last, role = self._options
        location = self.location
        refuse_existing(location, overwrite, folder, role)
        if not location.is_url:
            files.move_into_place(self.temp, location.path)
        elif folder:
            _upload_folder(location, self.temp, last, role)
        else:
            _url_call(
                location,
                role,
                "upload_file",
                location.key,
                self.temp,
                overwrite=overwrite,
                writing=True,
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


def check_name(where: Where, role: str = "output") -> None:
    """Refuse a target whose name cannot be written, before any work (OutputError, one line):
    a key longer than a bucket takes, or a name whose temp file is too long for the file
    system it is made on (a local target's hidden temp beside it is ~45 bytes longer than
    its name; an object is staged under its own name in TMPDIR)."""
    location = Location.of(where)
    if location.is_url:
        size = len(location.key.encode())
        if size > MAX_KEY_BYTES:
            raise OutputError(
                f"the {role}'s key is too long ({size} bytes; a bucket takes at most "
                f"{MAX_KEY_BYTES}): {location}"
            )
        temp, folder = location.name, _staging().parent
    else:
        temp, folder = files.temp_path(location.path).name, location.path.parent
    size, limit = len(os.fsencode(temp)), longest_name(folder)
    if size > limit:
        where_made = "in TMPDIR" if location.is_url else "beside it"
        raise OutputError(
            f"the {role}'s name is too long: its temp file {where_made} would have {size} "
            f"bytes, the file system takes {limit}: {location}"
        )


def longest_name(folder: Path) -> int:
    """The longest file name the file system of ``folder`` takes (255 where it cannot say)."""
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def refuse_existing(
    where: Where, overwrite: bool, folder: bool = False, role: str = "output"
) -> None:
    """OutputError "{role} exists" when something is at ``where`` and not ``overwrite`` (an
    empty local folder may be filled)."""
    location = Location.of(where)
    if overwrite or not _exists(location, role, writing=True):
        return
    if (
        folder
        and not location.is_url
        and location.path.is_dir()
        and not any(location.path.iterdir())
    ):
        return  # an empty folder may be filled
    raise OutputError(f"{role} exists (pass `overwrite` to replace it): {location}")


def _upload_folder(location: Location, folder: Path, last: str | None, role: str) -> None:
    """Put every file of ``folder`` below the prefix, ``last`` after all others; stale keys
    of an old folder there are deleted before ``last`` goes up."""
    pairs = [
        (f"{location.key}/{path.relative_to(folder).as_posix()}", path)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    ]
    commit = [pair for pair in pairs if last is not None and pair[0] == f"{location.key}/{last}"]
    rest = [pair for pair in pairs if pair not in commit]
    old = set(_url_call(location, role, "keys_under", location.key, writing=True))
    try:
        _url_call(location, role, "delete", [key for key, _ in commit if key in old], writing=True)
        _url_call(location, role, "upload_files", rest, writing=True)
        stale = sorted(old - {key for key, _ in pairs})
        _url_call(location, role, "delete", stale, writing=True)
        _url_call(location, role, "upload_files", commit, writing=True)
    except BaseException:
        remove(location)
        raise


def same(a: Where, b: Where) -> bool:
    """Whether two names are one file: the same key, or local paths resolved alike."""
    first, second = Location.of(a), Location.of(b)
    if first.is_url or second.is_url:
        return first == second
    return first.path.resolve() == second.path.resolve()


def inside(where: Where, roots: Iterable[Where]) -> bool:
    """Whether ``where`` lies in one of ``roots`` (folders or URL prefixes).

    Local paths are resolved first (symlinks followed, ``..`` removed). A URL is inside a
    prefix of the same bucket when its key is the prefix or continues it after a "/", so
    s3://media/in2/x is not inside s3://media/in; URL keys never hold ``..`` (Location.of).
    """
    location = Location.of(where)
    for root in map(Location.of, roots):
        if root.is_url != location.is_url:
            continue
        if not location.is_url:
            resolved = location.path.expanduser().resolve()
            if resolved.is_relative_to(root.path.expanduser().resolve()):
                return True
        elif (root.scheme, root.bucket) == (location.scheme, location.bucket) and (
            not root.key or location.key == root.key or location.key.startswith(root.key + "/")
        ):
            return True
    return False
