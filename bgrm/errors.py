"""Errors a user sees: one clear line each, naming the problem and the file.

Messages name a job's parameters in backticks (`overwrite`, `downsample`), so that a client can
show them in its own words: the CLI turns `overwrite` into -y. The library says nothing of exit
codes: each kind of error says what it is about (``kind``), and each client decides what
that means to it.
"""

from __future__ import annotations


class BgrmError(Exception):
    """Base of every error meant for the user. The message is one line: a control character
    in it (a file name may hold a newline) is written as its escape."""

    kind = "input"

    def __init__(self, message: object = "", *args: object) -> None:
        super().__init__(one_line(str(message)), *args)


class InputError(BgrmError):
    """The input video, a background file or a parameter's value is unusable."""


class UsageError(BgrmError):
    """Parameters that contradict each other or name something impossible."""

    kind = "usage"


class OutputError(BgrmError):
    """The output cannot be written (exists, missing or read-only folder, disk full)."""

    kind = "output"


class EnvironmentProblem(BgrmError):
    """Something outside the inputs is missing: weights, a device, a codec."""

    kind = "environment"


def one_line(text: str) -> str:
    """``text`` with every character that is not printable (newlines, NUL) escaped."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def brief(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to about ``limit`` characters, for a value quoted in a message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def not_found(role: str, where: object, *, writing: bool = False) -> InputError | OutputError:
    """The one wording of a missing file or object: "{role} not found: {where}" (an
    OutputError when it was being written, e.g. a parts folder's piece)."""
    return (OutputError if writing else InputError)(f"{role} not found: {where}")
