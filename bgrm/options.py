"""The values a job's options take (Literal types), and the options as a caller passes them:
``process(input, output, **options)``.

The options are ``bgrm.Job``'s fields, declared there once with their types, defaults
and help. The TypedDicts here are how an editor shows them in ``process``'s signature help
(a Python signature cannot be made from a dataclass where a type checker sees it);
tests/test_api.py checks that their keys and types are Job's, so they cannot drift apart.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Literal, TypedDict, get_args

from bgrm.errors import UsageError, brief

if TYPE_CHECKING:
    from bgrm.matting.build import Model

Alpha = Literal["prores", "webm", "png"]
"""The person over transparency: ProRes 4444 (.mov), VP9 WebM (.webm), or a folder of PNGs."""

Codec = Literal["h264", "hevc", "av1", "vp9"]
"""The composite's video codec (the keys of bgrm/media/formats.py's CODECS)."""

Precision = Literal["auto", "fp32", "fp16"]
"""The model's float precision; "auto" is fp32 for now."""

CompileMode = Literal["auto", "on", "off"]
"""Whether the full-resolution tail is compiled into one pass: "auto" where it pays."""

Screens = Literal["keep", "replace"]
"""A shot in which the model finds no person (a shared screen, a slide): "keep" it as
recorded, or "replace" its background like any other."""

ModelName = Literal["rvm", "selfie"]
"""The matting model: Robust Video Matting, or MediaPipe's selfie segmenter (faster on a
CPU, coarser edges, no held objects)."""

PRECISIONS: tuple[str, ...] = get_args(Precision)


def resolve_precision(precision: str) -> str:
    """'auto' -> fp32 on every device for now: fp16 (encoder and decoder in float16, refiner in
    float32) stays opt-in until its alpha error is measured on a GPU at real sizes."""
    if precision not in PRECISIONS:
        choices = ", ".join(PRECISIONS)
        raise UsageError(f"`precision` must be one of {choices}, got {brief(precision)}")
    return "fp32" if precision == "auto" else precision


class ModelOptions(TypedDict, total=False):
    """How the model runs (the options of ``mattes``): the ``Job`` parameters of
    the same names, documented there; ``model`` may also be a model from ``load_model()``,
    to load the weights once for many calls."""

    downsample: float | str
    batch: int | None
    device: str
    precision: Precision
    model: ModelName | Model


class JobOptions(ModelOptions, total=False):
    """Every ``Job`` parameter but ``input`` and ``output``, documented there: the
    options of ``process``, ``process_many`` and ``preview``; a file may be a path."""

    background: str | os.PathLike | None
    alpha: Alpha | None
    matte: str | os.PathLike | None
    overwrite: bool
    codec: Codec | None
    crf: int | None
    light_wrap: float | None
    compile: CompileMode
    screens: Screens
