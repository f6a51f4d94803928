"""Errors a user sees: one clear line each, with a distinct exit code.

The CLI prints ``str(error)`` on stderr and exits with ``error.exit_code``; nothing else
about the error (no traceback) reaches the user.
"""

from __future__ import annotations


class BgrmError(Exception):
    """Base of every error meant for the user. The message is one line."""

    exit_code = 1


class InputError(BgrmError):
    """The input video, a background file or an option value is unusable."""

    exit_code = 1


class UsageError(BgrmError):
    """Options that contradict each other or name something impossible."""

    exit_code = 2


class OutputError(BgrmError):
    """The output cannot be written (exists without -y, missing or read-only folder, disk full)."""

    exit_code = 1


class EnvironmentProblem(BgrmError):
    """Something outside the inputs is missing: weights, a device, a codec."""

    exit_code = 3
