"""Where a file is: a local path or a key in a bucket (``s3://``, ``gs://``, ``az://``), parsed
once; storage.py does the I/O."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from bgrm.errors import UsageError

SCHEMES = ("s3", "gs", "az")
"""The object stores bgrm reads and writes."""

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$")


def is_url(text: str | os.PathLike | Location) -> bool:
    """Whether ``text`` names an object store (``scheme://...``) rather than a local path."""
    if isinstance(text, Location):
        return text.is_url
    return isinstance(text, str) and _URL.match(text) is not None


@dataclass(frozen=True)
class Location:
    """A file or folder: a local path (``scheme`` "") or a key in a bucket.

    For a URL, ``key`` has no leading or trailing "/" ("" is the bucket itself) and never a
    "." or ".." segment, so comparing keys as text compares places.
    """

    scheme: str
    bucket: str
    key: str  # the local path's text when scheme is ""

    @classmethod
    def of(cls, where: str | os.PathLike | Location) -> Location:
        """Parse a path or a URL; UsageError for a URL bgrm cannot use."""
        if isinstance(where, Location):
            return where
        text = os.fspath(where)
        match = _URL.match(text)
        if match is None:
            return cls("", "", text)
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

    @property
    def is_url(self) -> bool:
        return bool(self.scheme)

    @property
    def path(self) -> Path:
        """The local path (ValueError for a URL: there is none)."""
        if self.is_url:
            raise ValueError(f"not a local path: {self}")
        return Path(self.key)

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
    def parent(self) -> Location:
        if not self.is_url:
            return Location("", "", str(self.path.parent))
        parent = str(PurePosixPath(self.key).parent)
        return Location(self.scheme, self.bucket, "" if parent == "." else parent)

    def __truediv__(self, name: str) -> Location:
        """The file or folder ``name`` inside this folder (one plain name, no separators)."""
        if not name or "/" in name or name in (".", ".."):
            raise ValueError(f"not a plain name: {name!r}")
        if not self.is_url:
            return Location("", "", str(self.path / name))
        return Location(self.scheme, self.bucket, f"{self.key}/{name}" if self.key else name)

    def with_name(self, name: str) -> Location:
        """The sibling called ``name`` (as for a temp name or a default output)."""
        return self.parent / name

    def __str__(self) -> str:
        return f"{self.scheme}://{self.bucket}/{self.key}" if self.is_url else self.key

    @property
    def _pure(self) -> PurePosixPath | Path:
        return PurePosixPath(self.key) if self.is_url else self.path


Where = str | os.PathLike | Location

Place = Path | Location
"""Where a job's file is, as the library hands it back: a Path for a local file, a Location
for an object in a bucket."""


def place(where: Where) -> Place:
    """``where`` as a Path when it is local, else as a Location (never a URL mangled by Path)."""
    location = Location.of(where)
    return location if location.is_url else location.path
