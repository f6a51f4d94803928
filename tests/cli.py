"""The `bgrm` command run as a user runs it: a real process, its exit code and its stderr."""

from __future__ import annotations

import os
import subprocess
import sys

BGRM = [sys.executable, "-m", "bgrm"]


def bgrm(
    *args: str, env: dict | None = None, cwd: str | os.PathLike | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*BGRM, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=600,
    )
