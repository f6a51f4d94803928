"""Local temp names beside a target, the rename into place, and leftovers of crashed runs.

bgrm/storage.py's ``write`` is the one way bgrm writes a file or folder (a local one through
these names and renames, an object by an upload). A temp name says who writes it
(``.<stem>.part-<pid>@<host>-<random><suffix>``), so a later run can tell a leftover whose
writer is gone (its process no longer exists on this machine) from one a live run is still
writing, and remove it at once (see :func:`remove_leftovers`).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import time
from collections.abc import Iterable
from pathlib import Path

_WRITER = re.compile(r"\.(?:part|old)-(?P<pid>\d+)@(?P<host>.+?)-[0-9a-f]{8}(?:\.|$)")
"""A temp name's writer: the process id and the host."""


def temp_path(target: Path, kind: str = "part") -> Path:
    """A hidden name beside ``target`` with its suffix kept (a muxer is picked by it), naming
    this process as its writer."""
    writer = f"{os.getpid()}@{socket.gethostname()}-{secrets.token_hex(4)}"
    return target.with_name(f".{target.stem}.{kind}-{writer}{target.suffix}")


def move_into_place(temp: Path, target: Path) -> None:
    """Rename a finished temp file or folder to ``target``, replacing an old one."""
    if temp.is_dir() and target.is_dir():
        old = temp_path(target, "old")
        os.replace(target, old)
        os.replace(temp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(temp, target)


def remove(path: Path) -> None:
    """Delete a file or folder if it is there."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def leftovers(targets: Iterable[Path]) -> list[Path]:
    """The temp files and folders that runs writing ``targets`` left beside them."""
    return [
        temp
        for target in targets
        for kind in ("part", "old")
        for temp in target.parent.glob(f".{target.stem}.{kind}-*{target.suffix}")
    ]


def remove_leftovers(temps: Iterable[Path], older_than: float) -> list[Path]:
    """Delete each of ``temps`` whose writer is gone (a process of this host that no longer
    exists), or that nobody touched for ``older_than`` seconds (a writer elsewhere, or of an
    older bgrm); returns what was removed. A live run's own temp files are left alone."""
    cutoff = time.time() - older_than
    removed = []
    for temp in temps:
        try:
            stale = _writer_gone(temp) or temp.stat().st_mtime < cutoff
        except FileNotFoundError:
            continue
        if stale:
            remove(temp)
            removed.append(temp)
    return removed


def _writer_gone(temp: Path) -> bool:
    """Whether ``temp`` names a writer on this host that is no longer running."""
    found = _WRITER.search(temp.name)
    if found is None or found["host"] != socket.gethostname():
        return False
    pid = int(found["pid"])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False
