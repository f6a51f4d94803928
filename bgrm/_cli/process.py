"""`bgrm process`: one video (or image) with a progress bar, or many: files and folders in one
command, a bad one reported and the others still done; flags -> bgrm.process / process_many."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from bgrm._cli.errors import EXIT_INPUT, in_flag_words, say, shown, user_errors
from bgrm._cli.flags import with_job_flags
from bgrm._cli.progress import ProgressBar
from bgrm.places import Place
from bgrm.threads import choose_waiting


@with_job_flags(
    output_help="Output file, or a folder (a trailing / or an existing folder: the usual name in "
    "it, made if missing); the folder of frames for --alpha png. Default: <stem>.bgrm<ext> "
    "beside the input."
)
def process(
    inputs: Annotated[
        list[str],
        # bgrm checks the files itself, to give one line and exit code 1 (not a usage box)
        typer.Argument(
            metavar="INPUT",
            help="Videos (or still images) to process, or folders of videos; s3://bucket/key "
            "for an object.",
            show_default=False,
            readable=False,
        ),
    ],
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No progress bar or notes.")] = False,
    recursive: Annotated[
        bool, typer.Option("-r", "--recursive", help="Look for videos in subfolders too.")
    ] = False,
    skip_existing: Annotated[
        bool,
        typer.Option("--skip-existing", help="Skip inputs whose output is already there."),
    ] = False,
    *,
    job: dict[str, Any],
) -> None:
    """Replace the background of INPUTS, or cut the person out (--alpha); keeps audio and timing.

    Several inputs or a folder: each is processed in turn into the -o folder (or beside
    itself), a bad one is reported and the others still run; exit 1 if any failed.
    """
    choose_waiting()  # before the job's checks load torch
    with user_errors():
        one = len(inputs) == 1 and not Place.of(inputs[0]).is_folder("input", writing=False)
    if one:
        _one(inputs[0], quiet, skip_existing, job)
    else:
        _many(inputs, quiet, recursive, skip_existing, job)


def _one(source: str, quiet: bool, skip_existing: bool, job: dict) -> None:
    import bgrm
    from bgrm.many import LEFTOVER_AGE_S
    from bgrm.outputs import complete, remove_leftovers

    with user_errors():
        if names_folder(job["output"]) and job["alpha"] != "png":
            job = {**job, "output": str(into_folder(job["output"], source, job))}
        planned = bgrm.Job(input=source, **job)
        if skip_existing:
            remove_leftovers(planned, LEFTOVER_AGE_S)
            if complete(planned):
                say(f"skipped {shown(source)}: {shown(planned.output_path())} is there")
                return
        bgrm.check(planned)  # a bad job fails with its one line, before any note
        progress = ProgressBar(quiet)
        try:
            result = bgrm.run(planned, on_progress=progress, on_notice=None if quiet else say)
        finally:
            progress.close()
        if quiet:
            return
        if planned.still:
            say(f"wrote {shown(result.output)}")
        else:
            say(f"wrote {shown(result.output)} ({result.frames} frames, {result.fps:.1f} frames/s)")
        if result.matte is not None:
            say(f"wrote the matte {shown(result.matte)}")


def names_folder(output: str | None) -> bool:
    """Whether -o names a folder: it ends with a slash, or is a folder (a prefix with keys
    below it, in a bucket) that exists."""
    return output is not None and (output.endswith(("/", os.sep)) or Place.of(output).is_folder())


def into_folder(folder: str, source: str, job: dict) -> Place:
    """The usual output name of ``source`` inside ``folder`` (made if missing; a bucket needs
    no folders)."""
    import bgrm

    inside = Place.of(folder)
    inside.mkdir(parents=True)
    return inside / bgrm.Job(input=source, alpha=job["alpha"]).output_path().name


def _many(sources: list[str], quiet: bool, recursive: bool, skip_existing: bool, job: dict) -> None:
    import bgrm

    folder = job.pop("output")
    bars: list[ProgressBar] = []

    def start(index: int, count: int, source: Path) -> None:
        if not quiet:
            say(f"[{index + 1}/{count}] {shown(source)}")
        bars.append(ProgressBar(quiet))

    def progress(done: int, total: int | None) -> None:
        bars[-1](done, total)

    def end(item) -> None:
        bars.pop().close()
        if item.error is not None:
            say(f"error: {in_flag_words(str(item.error))}")
        elif item.skipped and not quiet:
            say(f"skipped: {shown(item.output)} is there")

    with user_errors():
        try:
            items = bgrm.process_many(
                sources,
                folder,
                recursive=recursive,
                skip_existing=skip_existing,
                on_start=start,
                on_end=end,
                on_progress=progress,
                on_notice=None if quiet else say,
                **job,
            )
        finally:
            for bar in bars:
                bar.close()
    failed = [item for item in items if item.error is not None]
    if not quiet or failed:
        typer.echo(_summary(items), err=True)
    if failed:
        raise typer.Exit(EXIT_INPUT)


def _summary(items: list) -> str:
    """One line per input: file, frames, seconds, frames/s, what became of it."""
    rows = [("file", "frames", "seconds", "frames/s", "result")]
    for item in items:
        if item.result is not None:
            r = item.result
            rows.append((str(item.input), str(r.frames), f"{r.seconds:.1f}", f"{r.fps:.1f}",
                         f"wrote {r.output}"))  # fmt: skip
        elif item.skipped:
            rows.append((str(item.input), "-", "-", "-", f"skipped: {item.output} is there"))
        else:
            rows.append((str(item.input), "-", "-", "-", "failed (see its error above)"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}  "
        f"{row[3]:>{widths[3]}}  {row[4]}"
        for row in rows
    )
