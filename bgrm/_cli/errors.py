"""Exit codes and one-line errors: how the CLI tells the user what went wrong.

The library names parameters in backticks (`overwrite`); here they become the flags that set
them (-y, see flags.py). Every error is one line on stderr, `bgrm: error: <problem>: <file>`.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from tqdm import tqdm

from bgrm import BgrmError
from bgrm._cli.flags import in_flag_words
from bgrm.places import Place

EXIT_INPUT = 1
EXIT_USAGE = 2
EXIT_ENVIRONMENT = 3
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class Terminated(BaseException):
    """SIGTERM arrived: stop like Ctrl-C, but exit 143."""


def exit_code(kind: str) -> int:
    """The exit code for a kind of error: a ``BgrmError.kind``, "cancelled" or "internal"."""
    codes = {"usage": EXIT_USAGE, "environment": EXIT_ENVIRONMENT, "internal": EXIT_INTERNAL}
    return codes.get(kind, EXIT_INPUT)


def shown(path: str | os.PathLike) -> str:
    """A path or a URL as the user should read it (Place.display)."""
    return Place.of(path).display()


def say(message: str) -> None:
    tqdm.write(f"bgrm: {message}", file=sys.stderr)


def fail(message: str, code: int) -> NoReturn:
    tqdm.write(f"bgrm: error: {in_flag_words(message)}", file=sys.stderr)
    raise typer.Exit(code)


@contextmanager
def user_errors(aftermath: str = "no output written") -> Iterator[None]:
    """Turn errors, Ctrl-C and SIGTERM into one line and an exit code; ``aftermath`` says
    what an interrupt leaves behind."""

    def on_sigterm(signum, frame):
        raise Terminated

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    except BgrmError as error:
        fail(str(error), exit_code(error.kind))
    except KeyboardInterrupt:
        fail(f"interrupted; {aftermath}", EXIT_INTERRUPTED)
    except Terminated:
        fail(f"terminated; {aftermath}", EXIT_TERMINATED)
    except (typer.Exit, typer.Abort):
        raise
    except Exception as error:
        if os.environ.get("BGRM_DEBUG"):
            raise
        fail(
            f"internal error: {type(error).__name__}: {error} (BGRM_DEBUG=1 shows more)",
            EXIT_INTERNAL,
        )
    finally:
        signal.signal(signal.SIGTERM, previous)
