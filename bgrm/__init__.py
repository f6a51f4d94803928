"""bgrm: remove or replace the background of recorded video.

    import bgrm

    model = bgrm.load_model()                                  # once; reuse it
    result = bgrm.process("talk.mp4", "out.mp4", background="beach.jpg", model=model)
    for frame in bgrm.mattes("talk.mp4", model=model):         # streaming
        frame.pts, frame.time, frame.image, frame.alpha, frame.foreground

Errors meant for the user are subclasses of :class:`BgrmError`, each with a one-line message
that names parameters in backticks. The names that need the model (and so PyTorch) are loaded
on first use, so that a program that only builds jobs (a queue client) starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from bgrm.errors import BgrmError, EnvironmentProblem, InputError, OutputError, UsageError
from bgrm.job import Job, Part

if TYPE_CHECKING:
    from bgrm.batch import BatchItem, process_many
    from bgrm.matting.build import Model, load_model
    from bgrm.outputs import parts_folder, remove_leftovers
    from bgrm.pipeline import MatteFrame, Result, mattes, process, run, run_part
    from bgrm.preview import preview
    from bgrm.split import join_parts, plan_parts

__version__ = "0.1.0"

_LOADED_ON_USE = {
    "BatchItem": "bgrm.batch",
    "process_many": "bgrm.batch",
    "preview": "bgrm.preview",
    "Model": "bgrm.matting.build",
    "load_model": "bgrm.matting.build",
    "parts_folder": "bgrm.outputs",
    "remove_leftovers": "bgrm.outputs",
    "MatteFrame": "bgrm.pipeline",
    "Result": "bgrm.pipeline",
    "mattes": "bgrm.pipeline",
    "process": "bgrm.pipeline",
    "run": "bgrm.pipeline",
    "run_part": "bgrm.pipeline",
    "join_parts": "bgrm.split",
    "plan_parts": "bgrm.split",
}

__all__ = [
    "BatchItem",
    "BgrmError",
    "EnvironmentProblem",
    "InputError",
    "Job",
    "MatteFrame",
    "Model",
    "OutputError",
    "Part",
    "Result",
    "UsageError",
    "__version__",
    "join_parts",
    "load_model",
    "mattes",
    "parts_folder",
    "plan_parts",
    "preview",
    "process",
    "process_many",
    "remove_leftovers",
    "run",
    "run_part",
]


def __getattr__(name: str) -> object:
    if name not in _LOADED_ON_USE:
        raise AttributeError(f"module 'bgrm' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LOADED_ON_USE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
