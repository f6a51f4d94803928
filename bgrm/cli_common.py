"""What every `bgrm` command shares: one-line errors with exit codes, and the job flags.

The job flags (output, background, downsample, ...) are declared once, in :func:`job_flags`;
:func:`with_job_flags` gives them to a command (`process`, `submit`), so an option added there
reaches every command that builds a :class:`ProcessOptions`.
"""

from __future__ import annotations

import functools
import inspect
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn, get_type_hints

import typer
from tqdm import tqdm

from bgrm.errors import BgrmError
from bgrm.options import DEFAULT_BACKGROUND

EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
EXIT_INTERNAL = 70


class Terminated(BaseException):
    """SIGTERM arrived: stop like Ctrl-C, but exit 143."""


def say(message: str) -> None:
    tqdm.write(f"bgrm: {message}", file=sys.stderr)


def fail(message: str, code: int) -> NoReturn:
    tqdm.write(f"bgrm: error: {message}", file=sys.stderr)
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
        fail(str(error), error.exit_code)
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


class ProgressBar:
    """tqdm on stderr (frames, frames/s, ETA), opened at the first frame so errors come first."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.bar: tqdm | None = None

    def __call__(self, done: int, total: int | None) -> None:
        if self.bar is None:
            self.bar = tqdm(
                total=total, unit="frame", disable=self.quiet, file=sys.stderr, dynamic_ncols=True
            )
        if total is not None and total != self.bar.total:
            self.bar.total = total
            self.bar.refresh()
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def job_flags(
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="Output file, or folder for --alpha png "
            "(default: <stem>.bgrm<ext> beside the input).",
        ),
    ] = None,
    bg: Annotated[
        str | None,
        typer.Option(
            "--bg",
            help="New background: an image, a video, a colour (#RRGGBB or a CSS name), 'blur' "
            f"or 'blur:N'. Default: {DEFAULT_BACKGROUND}.",
            show_default=False,
        ),
    ] = None,
    alpha: Annotated[
        str | None,
        typer.Option(
            "--alpha",
            help="No background: the person with transparency. prores (.mov, ProRes 4444), "
            "webm (.webm, VP9) or png (a folder of RGBA PNGs).",
            show_default=False,
        ),
    ] = None,
    matte: Annotated[
        Path | None,
        typer.Option(
            "--matte",
            help="Also write the alpha matte as a grayscale video (.mkv: lossless; .mp4, .mov, "
            ".webm), in the same pass.",
            show_default=False,
        ),
    ] = None,
    downsample: Annotated[
        str,
        typer.Option(help="Model input scale: 'auto' (long side ~512 px) or a ratio in (0, 1]."),
    ] = "auto",
    batch: Annotated[
        int | None,
        typer.Option(help="Frames per model call (default: ~2 Mpixel on CPU, 16 on GPU)."),
    ] = None,
    precision: Annotated[
        str, typer.Option(help="auto (fp32), fp32 or fp16 (encoder/decoder in float16; opt-in).")
    ] = "auto",
    overwrite: Annotated[
        bool, typer.Option("-y", "--overwrite", help="Replace an existing output file.")
    ] = False,
) -> dict[str, Any]:
    """The processing flags shared by every command that makes a job -> ProcessOptions fields."""
    return {
        "output": str(output) if output else None,
        "background": bg,
        "alpha": alpha,
        "matte": str(matte) if matte else None,
        "downsample": downsample,
        "batch": batch,
        "precision": precision,
        "overwrite": overwrite,
    }


def with_job_flags(command: Callable[..., None]) -> Callable[..., None]:
    """Give ``command`` the flags of :func:`job_flags`; it receives their fields as ``job``.

    The command declares its own parameters plus ``job: dict``; the wrapper's signature (what
    Typer reads) is the command's arguments, the job flags, then the command's own options.
    """
    own = inspect.signature(command, eval_str=True)
    flags = inspect.signature(job_flags, eval_str=True)
    own_params = [p for p in own.parameters.values() if p.name != "job"]
    flag_names = set(flags.parameters)

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> None:
        job = job_flags(**{name: kwargs.pop(name) for name in flag_names})
        command(job=job, **kwargs)

    arguments = [p for p in own_params if p.default is p.empty]
    options = [p for p in own_params if p.default is not p.empty]
    wrapper.__signature__ = own.replace(
        parameters=[*arguments, *flags.parameters.values(), *options]
    )
    hints = {
        **get_type_hints(command, include_extras=True),
        **get_type_hints(job_flags, include_extras=True),
    }
    hints.pop("job", None)
    wrapper.__annotations__ = hints
    return wrapper
