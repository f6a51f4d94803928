"""`bgrm process`: one video, with a progress bar; flags -> bgrm.process()."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from bgrm._cli.errors import say, user_errors
from bgrm._cli.flags import with_job_flags
from bgrm._cli.progress import ProgressBar


@with_job_flags
def process(
    input: Annotated[
        Path,
        # bgrm checks the file itself, to give one line and exit code 1 (not a usage box)
        typer.Argument(
            help="The video (or still image) to process.", show_default=False, readable=False
        ),
    ],
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No progress bar or notes.")] = False,
    *,
    job: dict[str, Any],
) -> None:
    """Replace the background of INPUT, or cut the person out (--alpha); keeps audio and timing."""
    import bgrm

    with user_errors():
        progress = ProgressBar(quiet)
        try:
            result = bgrm.process(
                input,
                device=device,
                on_progress=progress,
                on_notice=None if quiet else say,
                **job,
            )
        finally:
            progress.close()
        if not quiet:
            say(f"wrote {result.output} ({result.frames} frames, {result.fps:.1f} frames/s)")
            if result.matte is not None:
                say(f"wrote the matte {result.matte}")
