"""`bgrm submit | status | cancel | worker`: the job queue from the command line.

The queue lives in ``bgrm_worker`` (Celery on Redis); it is imported inside each command, so
`bgrm process` never loads Celery.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Annotated, Any

import typer

from bgrm import Job, UsageError
from bgrm._cli.errors import exit_code, fail, in_flag_words, say, user_errors
from bgrm._cli.flags import with_job_flags
from bgrm._cli.process import into_folder, names_folder
from bgrm._cli.progress import ProgressBar
from bgrm.places import Place
from bgrm.threads import choose_waiting

POLL_SECONDS = 0.5


@with_job_flags(
    output_help="Output file, or a folder (a trailing / or an existing folder), as the workers "
    "see it. Default: $BGRM_OUTPUT_ROOT/<stem>.bgrm<ext>, or beside the input when "
    "BGRM_OUTPUT_ROOT is not set.",
    without=("device",),  # each worker runs its jobs on its own device
)
def submit(
    inputs: Annotated[
        list[str],
        typer.Argument(
            metavar="INPUT", help="Videos to process, one job each.", show_default=False
        ),
    ],
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for the jobs, with progress; fail as they fail.")
    ] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No progress bar or notes.")] = False,
    split: Annotated[
        str | None,
        typer.Option(
            "--split",
            metavar="N|Ns",
            help="Run each job in parts on as many workers as there are: N parts, or parts of "
            "about Ns seconds (e.g. 8 or 120s); joined into one file.",
            show_default=False,
        ),
    ] = None,
    *,
    job: dict[str, Any],
) -> None:
    """Queue INPUTS for the workers; prints one job id per line.

    Paths must mean the same on the workers: a shared folder, or s3://bucket/key URLs.

    Without -o the output is $BGRM_OUTPUT_ROOT/<stem>.bgrm<ext>, or beside the input when
    BGRM_OUTPUT_ROOT is not set.
    """
    with user_errors():
        import bgrm
        from bgrm_worker import client

        if job["output"] and len(inputs) > 1 and not names_folder(job["output"]):
            raise UsageError("`output` names one output: give one input with it, or a folder")
        parts = _split(split) if split is not None else None
        jobs = [_absolute_job(source, job, many=len(inputs) > 1) for source in inputs]
        for each in jobs:  # refused here, with process's message, rather than on a worker
            bgrm.check(each)
        ids = [client.submit(each, parts) for each in jobs]
        for job_id in ids:
            typer.echo(job_id)
    if wait:
        for job_id in ids:
            _wait(job_id, quiet)


def _split(text: str) -> dict:
    """'8' -> {"count": 8}; '120s' -> {"seconds": 120.0}."""
    try:
        if text.endswith("s"):
            spec = {"seconds": float(text[:-1])}
            valid = spec["seconds"] > 0
        else:
            spec = {"count": int(text)}
            valid = spec["count"] >= 1
    except ValueError:
        valid = False
    if not valid:
        raise UsageError(f"--split must be a number of parts or seconds like 120s, got {text!r}")
    return spec


def _absolute_job(source: str, flags: dict[str, Any], *, many: bool) -> Job:
    """The job with absolute paths (URLs as they are), as the workers will read them. An output
    folder (-o dir/, and -o for several inputs) or, without -o, $BGRM_OUTPUT_ROOT gets the
    usual name in it, a local folder made if missing; with --alpha png and one input, -o is
    the frames folder."""
    from bgrm.backgrounds import background_file

    output, folder = flags["output"], None
    if output is None:
        folder = os.environ.get("BGRM_OUTPUT_ROOT") or None
    elif names_folder(output) and (many or flags["alpha"] != "png"):
        folder = output
    if folder is not None:
        output = str(into_folder(folder, source, flags))
    job = Job(input=_absolute(source), **{**flags, "output": output})
    background = background_file(job.background)
    return dataclasses.replace(
        job,
        output=_absolute(job.output_path()),
        background=_absolute(background) if background else job.background,
        matte=_absolute(job.matte) if job.matte else None,
    )


def _absolute(where: str | os.PathLike) -> str:
    """A local path made absolute; a URL as it is."""
    return str(Place.of(where).absolute())


def _with_exit_code(report: dict) -> dict:
    """The report with the exit code `bgrm process` would have given (None while running)."""
    if not report["ended"]:
        code = None
    elif report["error_kind"] is None:
        code = 0
    else:
        code = exit_code(report["error_kind"])
    return {**report, "exit_code": code}


def _wait(job_id: str, quiet: bool) -> None:
    """Follow a job to its end with a progress bar; exit with its error if it fails."""
    from bgrm_worker import client

    bar = ProgressBar(quiet)
    aftermath = f"stopped waiting; the job goes on (`bgrm cancel {job_id}` stops it)"
    with user_errors(aftermath):
        try:
            report = client.status(job_id)
            while not report["ended"]:
                if report["progress"]:
                    bar(report["progress"]["done"], report["progress"]["total"])
                time.sleep(POLL_SECONDS)
                report = client.status(job_id)
            if report["progress"]:
                bar(report["progress"]["done"], report["progress"]["total"])
        finally:
            bar.close()
    code = _with_exit_code(report)["exit_code"]
    if code:
        fail(report["error"], code)
    if not quiet:
        progress = report["progress"]
        say(f"wrote {report['output']} ({progress['done']} frames, {progress['fps']:.1f} frames/s)")


def status(
    job_id: Annotated[str, typer.Argument(metavar="JOB", help="A job id from `bgrm submit`.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Show a job: state, frames done/total, frames/s, output or error."""
    with user_errors():
        from bgrm_worker import client

        report = _with_exit_code(client.status(job_id))
    if report["error"]:
        report["error"] = in_flag_words(report["error"])
    if as_json:
        typer.echo(json.dumps(report))
        return
    typer.echo(_describe(report))


def _describe(report: dict) -> str:
    lines = [f"{report['id']}: {report['state']}"]
    progress = report["progress"]
    if progress:
        total = progress["total"] if progress["total"] is not None else "?"
        lines.append(f"frames: {progress['done']}/{total} ({progress['fps']:.1f} frames/s)")
    if report["parts"]:
        lines.append(f"parts: {report['parts']['done']}/{report['parts']['total']} done")
    lines.append(f"input: {report['input']}")
    lines.append(f"output: {report['output']}")
    if report["worker"]:
        lines.append(f"worker: {report['worker']}")
    if report["error"]:
        lines.append(f"error: {report['error']}")
    return "\n".join(lines)


def cancel(
    job_id: Annotated[str, typer.Argument(metavar="JOB", help="A job id from `bgrm submit`.")],
) -> None:
    """Stop a job: a queued one never runs; a running one stops at its next batch."""
    with user_errors():
        from bgrm_worker import client

        before = client.cancel(job_id)
    if before in ("SUCCESS", "FAILURE"):
        fail(f"job already ended ({before}); nothing to cancel: {job_id}", 1)
    say(f"cancelled {job_id} (it was {before})")


def worker(
    device: Annotated[
        str, typer.Option(metavar="DEVICE", help="auto, cpu, cuda or cuda:N; one worker each.")
    ] = "auto",
    threads: Annotated[
        int | None,
        typer.Option(min=1, metavar="N", help="torch CPU threads (default: cores / workers)."),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            metavar="NAME", help="Celery node name (default: bgrm-<device>-<pid>@<host>)."
        ),
    ] = None,
    loglevel: Annotated[str, typer.Option(metavar="LEVEL", help="Celery log level.")] = "info",
) -> None:
    """Run one queue worker on one device; it takes one job at a time. Ctrl-C stops it."""
    os.environ["BGRM_DEVICE"] = device
    if threads is not None:
        os.environ["BGRM_THREADS"] = str(threads)
    with user_errors("worker not started"):
        choose_waiting()  # before the worker loads torch: on a busy machine idle threads sleep
        from bgrm_worker import runtime
        from bgrm_worker.app import app

        runtime.model()
        say(f"worker on {device}: {runtime.describe()}")
    node = name or f"bgrm-{device.replace(':', '')}-{os.getpid()}@%h"
    app.worker_main(
        ["worker", f"--hostname={node}", f"--loglevel={loglevel}", "--pool=solo", "--concurrency=1"]
    )
