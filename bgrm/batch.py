"""Many recordings in one call: files and folders in, one job each, a bad one never stops the rest.

    items = process_many(["talks/", "extra.mp4"], "out/", background="blur", skip_existing=True)
    for item in items: item.input, item.output, item.result, item.error, item.skipped

Outputs keep the usual names (<stem>.bgrm<ext>), in ``output_folder`` or beside each input.
An output that exists is complete (outputs appear by a rename), so ``skip_existing`` makes a
second run after a crash pick up where the first stopped.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from bgrm.errors import BgrmError, InputError, UsageError
from bgrm.job import Job
from bgrm.matting.build import Model, load_model
from bgrm.media.formats import BACKGROUND_VIDEO_SUFFIXES, MEDIA_SUFFIXES
from bgrm.outputs import remove_leftovers
from bgrm.pipeline import ProgressCallback, Result, run

LEFTOVER_AGE_S = 600.0
"""Temp files of an earlier run untouched this long are a crashed run's, and removed."""


@dataclass(frozen=True)
class BatchItem:
    """What became of one input: its Result, the error that stopped it, or skipped."""

    input: Path
    output: Path | None
    result: Result | None = None
    error: BgrmError | None = None
    skipped: bool = False


def find_videos(paths: Iterable[str | os.PathLike], recursive: bool = False) -> list[Path]:
    """The files named, and the videos (by suffix) in the folders named, sorted per folder;
    subfolders only when ``recursive``. A name that does not exist is kept (it fails alone)."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            found += sorted(
                p
                for p in path.glob(pattern)
                if p.is_file()
                and p.suffix.lower() in BACKGROUND_VIDEO_SUFFIXES
                and not p.name.startswith(".")
            )
        else:
            found.append(path)
    return list(dict.fromkeys(found))


def process_many(
    inputs: Iterable[str | os.PathLike],
    output_folder: str | os.PathLike | None = None,
    *,
    recursive: bool = False,
    skip_existing: bool = False,
    model: Model | None = None,
    on_start: Callable[[int, int, Path], None] | None = None,
    on_end: Callable[[BatchItem], None] | None = None,
    on_progress: ProgressCallback | None = None,
    on_notice: Callable[[str], None] | None = None,
    **parameters,
) -> list[BatchItem]:
    """Process every video of ``inputs`` (files, and folders searched by suffix) one after the
    other with one model; returns one BatchItem each, in order.

    Parameters are those of ``process`` (not ``output`` or ``matte``, which name one file).
    ``output_folder`` is created if missing. ``on_start(index, count, input)`` is called
    before each file and ``on_end(item)`` after it; ``on_progress`` and ``on_notice`` as for
    ``process``.

    Raises:
        UsageError: ``output``/``matte`` given, or no video found.
        EnvironmentProblem: the model cannot be loaded.
    """
    if "output" in parameters or "matte" in parameters:
        raise UsageError("`output` and `matte` name one file; give several inputs a folder")
    Job(input="check.mp4", **parameters)  # parameters that are wrong for every input fail once
    inputs = list(inputs)
    sources = find_videos(inputs, recursive)
    if not sources:
        named = ", ".join(str(path) for path in inputs)
        raise InputError(f"no video found (a folder gives the videos in it, by suffix): {named}")
    folder = Path(output_folder) if output_folder is not None else None
    if folder is not None and (folder.is_file() or folder.suffix.lower() in MEDIA_SUFFIXES):
        raise UsageError(f"with several inputs, the output names a folder: {folder}")
    if folder is not None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UsageError(
                f"cannot make the output folder ({error.strerror}): {folder}"
            ) from None
    if model is None:
        device, precision = parameters.get("device", "auto"), parameters.get("precision", "auto")
        model = load_model(device, precision, on_notice=on_notice or (lambda message: None))
    items = []
    for index, source in enumerate(sources):
        if on_start is not None:
            on_start(index, len(sources), source)
        items.append(_one(source, folder, skip_existing, model, on_progress, on_notice, parameters))
        if on_end is not None:
            on_end(items[-1])
    return items


def _one(source, folder, skip_existing, model, on_progress, on_notice, parameters) -> BatchItem:
    """One input: skipped, done, or failed with its error."""
    try:
        job = Job(input=source, **parameters)
        if folder is not None:
            job = Job(input=source, output=folder / job.output_path().name, **parameters)
        output = job.output_path()
        if skip_existing and _complete(output):
            return BatchItem(source, output, skipped=True)
        remove_leftovers(job, LEFTOVER_AGE_S)
        result = run(job, model=model, on_progress=on_progress, on_notice=on_notice)
        return BatchItem(source, output, result=result)
    except BgrmError as error:
        return BatchItem(source, None, error=error)


def _complete(output: Path) -> bool:
    """Whether a finished output is there (a PNG folder: its frames.json, written last)."""
    if output.is_dir():
        return (output / "frames.json").is_file()
    return output.is_file()
