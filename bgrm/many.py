"""Many recordings in one call: files and folders in, one job each, a bad one never stops the rest.

    items = process_many(["talks/", "extra.mp4"], "out/", background="blur", skip_existing=True)
    for item in items: item.input, item.output, item.result, item.error, item.skipped

Outputs keep the usual names (<stem>.bgrm<ext>), beside each input or in ``output_folder``,
where a video found in a subfolder of a folder named keeps that subfolder (talks/old/a.mp4 ->
out/old/a.bgrm.mp4), so names cannot collide. An output that exists is complete (outputs appear
by a rename), so ``skip_existing`` makes a second run after a crash pick up where the first
stopped.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from typing_extensions import Unpack  # typing's own from Python 3.11

from bgrm.errors import BgrmError, InputError, UsageError
from bgrm.job import Job
from bgrm.matting.build import Model, load_model, name_and_model
from bgrm.media.formats import MEDIA_SUFFIXES, VIDEO_SUFFIXES
from bgrm.options import JobOptions
from bgrm.outputs import complete, remove_leftovers
from bgrm.pipeline import run
from bgrm.places import Place
from bgrm.results import NoticeCallback, ProgressCallback, Result

LEFTOVER_AGE_S = 600.0
"""Temp files of an earlier run on another machine, untouched this long, are a crashed run's
(those whose writer is gone from this machine are removed at once)."""


@dataclass(frozen=True)
class BatchItem:
    """What became of one input: its Result, the error that stopped it, or skipped."""

    input: Path
    output: Path | None
    result: Result | None = None
    error: BgrmError | None = None
    skipped: bool = False


@dataclass(frozen=True)
class Found:
    """A video to process, and the subfolder (of the folder it was found in) it sits in."""

    path: Path
    subfolder: Path = Path()


def find_videos(paths: Iterable[str | os.PathLike], recursive: bool = False) -> list[Found]:
    """The files named, and the videos (by suffix) in the folders named, sorted per folder;
    subfolders only when ``recursive``. A name that does not exist is kept (it fails alone)."""
    found: dict[Path, Found] = {}
    for path in map(Path, paths):
        if not path.is_dir():
            found.setdefault(path, Found(path))
            continue
        pattern = "**/*" if recursive else "*"
        for video in sorted(path.glob(pattern)):
            if (
                video.is_file()
                and video.suffix.lower() in VIDEO_SUFFIXES
                and not video.name.startswith(".")
            ):
                found.setdefault(video, Found(video, video.parent.relative_to(path)))
    return list(found.values())


def process_many(
    inputs: Iterable[str | os.PathLike],
    output_folder: str | os.PathLike | None = None,
    *,
    recursive: bool = False,
    skip_existing: bool = False,
    on_start: Callable[[int, int, Path], None] | None = None,
    on_end: Callable[[BatchItem], None] | None = None,
    on_progress: ProgressCallback | None = None,
    on_notice: NoticeCallback | None = None,
    **options: Unpack[JobOptions],
) -> list[BatchItem]:
    """Process every video of ``inputs`` (files, and folders searched by suffix) one after the
    other with one model; returns one BatchItem each, in order.

    Arguments:
        inputs: files, and folders whose videos (by suffix) are taken.
        output_folder: where the outputs go (created if missing), keeping the subfolders of
            the folders named; None: beside each input.
        recursive: look in the subfolders of the folders named too.
        skip_existing: skip an input whose output is already there (complete: outputs
            appear only by a rename).
        on_start: ``on_start(index, count, input)`` before each input.
        on_end: ``on_end(item)`` after each input.
        on_progress, on_notice: as for ``process``, for each input in turn.
        options: as for ``process`` but ``matte`` (it names one file); ``model`` is loaded
            once for all inputs.

    Raises:
        UsageError: parameters wrong for every input (checked before any work), a ``matte``,
            or a URL (objects in a bucket go one by one to ``process``).
        InputError: no video found.
        EnvironmentProblem: the model cannot be loaded.
    """
    if options.get("matte") is not None:
        raise UsageError("`matte` names one file: give it one input")
    name, loaded = name_and_model(options.pop("model", None))
    parameters = {**options, "model": name}
    inputs = list(inputs)
    for where in [*inputs, *([output_folder] if output_folder is not None else [])]:
        Place.of(where).local("objects in a bucket are processed one at a time (or submitted)")
    sources = find_videos(inputs, recursive)
    if not sources:
        named = ", ".join(str(path) for path in inputs)
        raise InputError(f"no video found (a folder gives the videos in it, by suffix): {named}")
    folder = _output_folder(output_folder)
    jobs = _jobs(sources, folder, parameters)
    runnable = [job for job in jobs if isinstance(job, Job)]
    if loaded is None and runnable:  # every job names the same device and precision
        notice = on_notice or (lambda message: None)
        first = runnable[0]
        loaded = load_model(first.device, first.precision, model=name, on_notice=notice)
    items = []
    for index, (source, job) in enumerate(zip(sources, jobs, strict=True)):
        if on_start is not None:
            on_start(index, len(sources), source.path)
        items.append(_one(source.path, job, skip_existing, loaded, on_progress, on_notice))
        if on_end is not None:
            on_end(items[-1])
    return items


def _output_folder(output_folder: str | os.PathLike | None) -> Path | None:
    """The output folder, made if missing; None: beside each input."""
    if output_folder is None:
        return None
    folder = Path(output_folder)
    if folder.is_file() or folder.suffix.lower() in MEDIA_SUFFIXES:
        raise UsageError(f"with several inputs, the output names a folder: {folder}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot make the output folder ({error.strerror}): {folder}") from None
    return folder


def _jobs(sources: list[Found], folder: Path | None, parameters: dict) -> list[Job | BgrmError]:
    """Each input's job, or the error that makes it impossible; a UsageError that every input
    meets is the parameters' fault and is raised at once. Two inputs that would write the same
    output: the later one is refused."""
    jobs: list[Job | BgrmError] = []
    taken: set[Path] = set()
    for source in sources:
        try:
            job = Job(input=source.path, **parameters)
            if folder is not None:
                output = folder / source.subfolder / job.output_path().name
                job = Job(input=source.path, output=output, **parameters)
            output = job.output_path().resolve()
            if output in taken:
                raise UsageError(f"another input of this batch writes the same output: {output}")
            taken.add(output)
            jobs.append(job)
        except BgrmError as error:
            jobs.append(error)
    if all(isinstance(job, UsageError) for job in jobs):
        raise jobs[0]
    return jobs


def _one(
    source: Path,
    job: Job | BgrmError,
    skip_existing: bool,
    model: Model | None,
    on_progress: ProgressCallback | None,
    on_notice: NoticeCallback | None,
) -> BatchItem:
    """One input: skipped, done, or failed with its error."""
    if isinstance(job, BgrmError):
        return BatchItem(source, None, error=job)
    output = job.output_path()
    try:
        if skip_existing and complete(job):
            return BatchItem(source, output, skipped=True)
        remove_leftovers(job, LEFTOVER_AGE_S)
        output.parent.mkdir(parents=True)
        result = run(job, model=model, on_progress=on_progress, on_notice=on_notice)
        return BatchItem(source, output, result=result)
    except BgrmError as error:
        return BatchItem(source, None, error=error)
