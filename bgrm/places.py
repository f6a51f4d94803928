"""Where a file is, and what can be asked of it: a local path or a key in a bucket (``s3://``,
``gs://``, ``az://``), parsed once; open, exists, list, make, remove. Writing a file whole is
bgrm/storage.py's; nothing else tells the two kinds apart.

The object-store library (obstore, ``pip install 'bgrm[s3]'``) is imported only when a URL is
used, so ``import bgrm`` stays light.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from bgrm.errors import EnvironmentProblem, InputError, OutputError, UsageError, not_found

SCHEMES = ("s3", "gs", "az")
"""The object stores bgrm reads and writes."""

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$")


@dataclass(frozen=True)
class Place:
    """A file or folder: a local path (``scheme`` "") or a key in a bucket.

    ``Place.of`` takes a ``str``, a ``Path`` or a Place; a local Place is itself a path
    (``open(place)``, ``Path(place)``). For a URL, ``key`` has no leading or trailing "/"
    ("" is the bucket itself) and never a "." or ".." segment, so comparing keys as text
    compares places.
    """

    scheme: str
    bucket: str
    key: str  # the local path's text when scheme is ""

    @classmethod
    def of(cls, where: str | os.PathLike) -> Place:
        """Parse a path or a URL; UsageError for a URL bgrm cannot use."""
        if isinstance(where, Place):
            return where
        text = os.fspath(where)
        match = _URL.match(text)
        if match is None:
            return cls("", "", str(Path(text)) if text else "")
        scheme, rest = match.group(1).lower(), match.group(2)
        if scheme not in SCHEMES:
            known = ", ".join(f"{s}://" for s in SCHEMES)
            raise UsageError(f"unsupported URL scheme {scheme}:// (bgrm uses {known}): {text}")
        bucket, _, key = rest.partition("/")
        key = key.rstrip("/")
        segments = key.split("/") if key else []
        if not bucket or any(s in ("", ".", "..") for s in segments):
            raise UsageError(f"a URL needs a bucket and a key without empty, . or .. parts: {text}")
        return cls(scheme, bucket, key)

    # ---- names ----

    @property
    def is_url(self) -> bool:
        """Whether this is an object in a bucket (for storage.py and confinement only)."""
        return bool(self.scheme)

    @property
    def path(self) -> Path:
        """The local path (ValueError for a URL: there is none)."""
        if self.is_url:
            raise ValueError(f"not a local path: {self}")
        return Path(self.key)

    def __fspath__(self) -> str:
        """A local Place is a path (TypeError for an object: it has none)."""
        if self.is_url:
            raise TypeError(f"an object in a bucket has no local path: {self}")
        return self.key

    def local(self, why: str) -> Path:
        """The local path; UsageError "{why}: {self}" for an object in a bucket."""
        if self.is_url:
            raise UsageError(f"{why}: {self}")
        return self.path

    @property
    def name(self) -> str:
        return self._pure.name

    @property
    def stem(self) -> str:
        return self._pure.stem

    @property
    def suffix(self) -> str:
        return self._pure.suffix

    @property
    def parent(self) -> Place:
        if not self.is_url:
            return Place("", "", str(self.path.parent))
        parent = str(PurePosixPath(self.key).parent)
        return Place(self.scheme, self.bucket, "" if parent == "." else parent)

    def __truediv__(self, name: str) -> Place:
        """The file or folder ``name`` inside this folder (one plain name, no separators)."""
        if not name or "/" in name or name in (".", ".."):
            raise ValueError(f"not a plain name: {name!r}")
        if not self.is_url:
            return Place("", "", str(self.path / name))
        return Place(self.scheme, self.bucket, f"{self.key}/{name}" if self.key else name)

    def with_name(self, name: str) -> Place:
        """The sibling called ``name`` (as for a temp name or a default output)."""
        return self.parent / name

    def __str__(self) -> str:
        return f"{self.scheme}://{self.bucket}/{self.key}" if self.is_url else self.key

    def expanduser(self) -> Place:
        """A local path with ``~`` expanded; a URL as it is."""
        return self if self.is_url else Place.of(self.path.expanduser())

    def absolute(self) -> Place:
        """A local path made absolute (symlinks kept); a URL as it is."""
        return self if self.is_url else Place.of(self.path.absolute())

    def resolve(self) -> Place:
        """A local path with ``~`` expanded, symlinks followed and ``..`` removed; a URL as
        it is (its key has no ``..``)."""
        return self if self.is_url else Place.of(self.path.expanduser().resolve())

    def display(self) -> str:
        """As a user should read it: a local path without ``.`` or ``..`` steps, relative to
        the current folder when inside it; a URL as it is."""
        if self.is_url:
            return str(self)
        full = Path(os.path.abspath(self.path))
        try:
            return str(full.relative_to(Path.cwd()))
        except ValueError:
            return str(full)

    def same(self, other: str | os.PathLike) -> bool:
        """Whether ``other`` names the same file: the same key, or local paths resolved alike."""
        other = Place.of(other)
        if self.is_url or other.is_url:
            return self == other
        return self.path.resolve() == other.path.resolve()

    def not_found(self, role: str = "input", *, writing: bool = False) -> InputError | OutputError:
        """The error that says the ``role`` is not here (one wording for both kinds)."""
        return not_found(role, self, writing=writing)

    @property
    def _pure(self) -> PurePosixPath | Path:
        return PurePosixPath(self.key) if self.is_url else self.path

    # ---- reading and asking ----

    def check_file(self, role: str = "input") -> None:
        """InputError unless a file is here that can be read (see ``is_file``)."""
        if not self.is_file(role):
            raise self.not_found(role)

    def is_file(self, role: str = "input") -> bool:
        """Whether a file is here (False: nothing is); InputError where something is that
        cannot be read as one: a folder, a FIFO or a device, or a name the system refuses (too
        long, no access). An object counts as here: it is looked at when it is opened."""
        if self.is_url:
            return True
        try:
            mode = self.path.stat().st_mode
        except (FileNotFoundError, NotADirectoryError):
            return False
        except (OSError, ValueError) as error:
            reason = getattr(error, "strerror", None) or error
            raise InputError(f"cannot read the {role} ({reason}): {self}") from None
        if stat.S_ISDIR(mode):
            raise InputError(f"{role} is a folder, not a file: {self}")
        if not stat.S_ISREG(mode):
            raise InputError(f"{role} is not a regular file: {self}")
        return True

    def open(self, role: str = "input", *, block: int | None = None) -> BinaryIO:
        """A seekable binary file of the bytes here; InputError "{role} not found: ..." etc.

        For a URL, reads are ranged GETs of ``block`` bytes (buckets.READ_BLOCK by default),
        so a decoder that seeks fetches only the blocks it touches.
        """
        if self.is_url:
            with self._objects(role) as objects:
                block = block or objects.READ_BLOCK
                return objects.open_reader(self.scheme, self.bucket, self.key, block, role)
        try:
            return open(self.path, "rb")
        except FileNotFoundError:
            raise self.not_found(role) from None
        except IsADirectoryError:
            raise InputError(f"{role} is a folder, not a file: {self}") from None
        except PermissionError:
            raise InputError(f"cannot read the {role} (permission denied): {self}") from None

    def media(self, role: str = "input") -> str | BinaryIO:
        """What PyAV opens: a local file's name for FFmpeg's "file" protocol alone (never read
        as another protocol's name, "concat:a|b"), an object's ranged reader (see ``open``)."""
        self.check_file(role)
        return self.open(role) if self.is_url else f"file:{self.path}"

    def read_bytes(self, role: str = "input") -> bytes:
        """The whole content of a small file (a marker, a sidecar)."""
        if self.is_url:
            with self._objects(role) as objects:
                return objects.get(self.scheme, self.bucket, self.key)
        with self.open(role) as file:
            return file.read()

    def size(self, role: str = "input") -> int:
        """The size of a file in bytes."""
        if self.is_url:
            with self._objects(role) as objects:
                return objects.size(self.scheme, self.bucket, self.key)
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            raise self.not_found(role) from None

    def exists(self, role: str = "file", *, writing: bool = False) -> bool:
        """Whether a file or a non-empty folder (a key, or keys below the prefix) is here."""
        if not self.is_url:
            return self.path.exists()
        with self._objects(role, writing=writing) as objects:
            there = objects.is_object(self.scheme, self.bucket, self.key)
            return there or objects.any_under(self.scheme, self.bucket, self.key)

    def is_folder(self, role: str = "output", *, writing: bool = True) -> bool:
        """Whether this is a folder: locally a directory, in a bucket a prefix with keys (an
        error names the ``role``, being written unless not ``writing``)."""
        if not self.is_url:
            return self.path.is_dir()
        with self._objects(role, writing=writing) as objects:
            return objects.any_under(self.scheme, self.bucket, self.key)

    def children(self) -> list[Place]:
        """The files and folders directly inside this folder, by name (none when missing)."""
        if self.is_url:
            with self._objects("folder") as objects:
                names = objects.names_in(self.scheme, self.bucket, self.key)
        elif self.path.is_dir():
            names = sorted(entry.name for entry in os.scandir(self.path))
        else:
            names = []
        return [self / name for name in names]

    def take(self, path: Path) -> None:
        """Bring this file to the local ``path``: renamed when it is local, else downloaded
        (the object stays; its folder is removed as a whole)."""
        if self.is_url:
            path.write_bytes(self.read_bytes())
        else:
            os.replace(self.path, path)

    # ---- making and removing ----

    def mkdir(self, role: str = "output", *, parents: bool = False) -> None:
        """Make this folder (with ``parents``, those above it too) if missing; OutputError
        where it cannot be made. A bucket has no folders to make: a prefix is there once a
        key below it is."""
        if self.is_url:
            return
        try:
            self.path.mkdir(parents=parents, exist_ok=True)
        except OSError as error:
            raise OutputError(f"cannot make the {role} folder ({error.strerror}): {self}") from None

    def remove(self) -> None:
        """Delete a file, or a folder and all below it; nothing here is no error."""
        if not self.is_url:
            if self.path.is_dir() and not self.path.is_symlink():
                shutil.rmtree(self.path, ignore_errors=True)
            else:
                self.path.unlink(missing_ok=True)
            return
        if not self.key:
            raise UsageError(f"will not empty a whole bucket: {self}")
        with self._objects("folder", writing=True) as objects:
            below = objects.keys_under(self.scheme, self.bucket, self.key)
            objects.delete(self.scheme, self.bucket, [*below, self.key])
        self.abort_uploads()

    def abort_uploads(self) -> list[Place]:
        """Abort the incomplete multipart uploads of this object and of every key below it
        (what a killed or cut-off upload leaves: invisible, but stored and billed until
        aborted); returns the objects whose uploads were aborted. Nothing to do for a local
        path; best effort for a URL (s3:// only: see bgrm/buckets.py)."""
        if not self.is_url or not self.key:
            return []
        keys = _buckets().abort_uploads(self.scheme, self.bucket, self.key, below=True)
        return [Place(self.scheme, self.bucket, key) for key in keys]

    @contextlib.contextmanager
    def _objects(self, role: str, *, writing: bool = False) -> Iterator:
        """The object-store module (bgrm/buckets.py), its errors in this block turned into
        one line naming this place as the ``role`` (for storage.py too)."""
        objects = _buckets()
        with objects.errors(str(self), self.scheme, role, writing=writing):
            yield objects


def _buckets():
    """The object-store module, imported on first use of a URL."""
    try:
        from bgrm import buckets
    except ImportError as error:
        raise EnvironmentProblem(
            "object-store URLs need the s3 extra: pip install 'bgrm[s3]'"
        ) from error
    return buckets
