"""bgrm: remove or replace the background of recorded video.

    import bgrm

    model = bgrm.load_model()                                  # once; reuse it
    result = bgrm.process("talk.mp4", "out.mp4", background="beach.jpg", model=model)
    for frame in bgrm.mattes("talk.mp4", model=model):         # streaming
        frame.pts, frame.time, frame.image, frame.alpha, frame.foreground

Errors meant for the user are subclasses of :class:`BgrmError`, each with a one-line message
that names parameters in backticks. The names that need the model (and so PyTorch) are loaded
on first use, so that a program that only builds jobs (a queue client) starts fast.

Where a file is, a local path or an object in a bucket: :class:`Place`. One recording on many
machines (what the queue's workers use): :mod:`bgrm.parts` (plan_parts, run_part, join_parts,
parts_folder, remove_leftovers). The CPU threads a job
should use on a shared machine: :mod:`bgrm.threads` (fit_threads, choose_waiting).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from bgrm.errors import BgrmError, EnvironmentProblem, InputError, OutputError, UsageError
from bgrm.job import Job
from bgrm.options import (
    Alpha,
    Codec,
    CompileMode,
    JobOptions,
    ModelName,
    ModelOptions,
    Precision,
    Screens,
)
from bgrm.places import Place

if TYPE_CHECKING:
    from bgrm import parts, threads
    from bgrm.many import BatchItem, process_many
    from bgrm.matting.build import Model, load_model
    from bgrm.pipeline import check, process, run
    from bgrm.preview import preview
    from bgrm.results import MatteFrame, Result, Shot
    from bgrm.streaming import mattes

__version__ = "0.1.0"

_LOADED_ON_USE = {
    "BatchItem": "bgrm.many",
    "process_many": "bgrm.many",
    "preview": "bgrm.preview",
    "Model": "bgrm.matting.build",
    "load_model": "bgrm.matting.build",
    "check": "bgrm.pipeline",
    "mattes": "bgrm.streaming",
    "process": "bgrm.pipeline",
    "run": "bgrm.pipeline",
    "MatteFrame": "bgrm.results",
    "Result": "bgrm.results",
    "Shot": "bgrm.results",
}

__all__ = [
    "Alpha",
    "BatchItem",
    "BgrmError",
    "Codec",
    "CompileMode",
    "EnvironmentProblem",
    "InputError",
    "Job",
    "JobOptions",
    "MatteFrame",
    "Model",
    "ModelName",
    "ModelOptions",
    "OutputError",
    "Place",
    "Precision",
    "Result",
    "Screens",
    "Shot",
    "UsageError",
    "__version__",
    "check",
    "load_model",
    "mattes",
    "parts",
    "preview",
    "process",
    "process_many",
    "run",
    "threads",
]


def __getattr__(name: str) -> object:
    if name in ("parts", "threads"):  # plumbing for farms and machines: namespaces of their own
        return importlib.import_module(f"bgrm.{name}")
    if name not in _LOADED_ON_USE:
        raise AttributeError(f"module 'bgrm' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LOADED_ON_USE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
