"""`bgrm preview`: a few moments of the result on one picture, before a long run."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from bgrm._cli.errors import say, shown, user_errors
from bgrm._cli.flags import with_job_flags
from bgrm.errors import UsageError
from bgrm.places import Place


@with_job_flags(output_help="The picture, a .png (default: <stem>.preview.png beside the input).")
def preview(
    input: Annotated[
        str,
        typer.Argument(
            metavar="INPUT", help="The video to look at.", show_default=False, readable=False
        ),
    ],
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            metavar="TIMES",
            help="Times, comma-separated, in seconds or [H:]MM:SS (default: 10%, 50%, 90%).",
            show_default=False,
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No notes.")] = False,
    *,
    job: dict[str, Any],
) -> None:
    """A picture of INPUT at a few moments: original, matte and result side by side.

    Takes the options of `process`; -o names the picture (default: <stem>.preview.png).
    """
    import bgrm

    with user_errors():
        source = Place.of(input)
        output = job.pop("output") or source.with_name(f"{source.stem}.preview.png")
        times = [parse_time(text) for text in at.split(",")] if at else None
        bgrm.preview(input, output, at=times, **job)
        if not quiet:
            say(f"wrote {shown(output)}")


def parse_time(text: str) -> float:
    """'12.5' -> 12.5; '0:05' -> 5; '1:02:05' -> 3725."""
    parts = text.strip().split(":")
    try:
        if len(parts) > 3 or any(p.strip() == "" for p in parts):
            raise ValueError(text)
        seconds = 0.0
        for part in parts:
            seconds = seconds * 60 + float(part)
    except ValueError:
        raise UsageError(f"--at takes seconds or [H:]MM:SS, got {text!r}") from None
    return seconds
