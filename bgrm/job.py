"""One job: what ``process()`` takes, as a frozen dataclass that travels as JSON unchanged.

Every check that needs no file is made when a Job is built, so contradictory or impossible
parameters fail before any work starts. Messages name parameters in backticks.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from typing import Literal, get_args

from bgrm.backgrounds import DEFAULT_BACKGROUND, background_file
from bgrm.errors import UsageError, brief
from bgrm.fields import NUMBER, WHOLE, check_kinds, fields_from_json
from bgrm.media.formats import (
    ALPHA_FORMATS,
    ALPHA_SUFFIXES,
    CODECS,
    CONTAINER_CODECS,
    MEDIA_SUFFIXES,
    STILL_ALPHA_SUFFIXES,
    STILL_OUTPUTS,
    VIDEO_OUTPUT_SUFFIXES,
    default_output,
    is_still_image,
)
from bgrm.places import Place

Alpha = Literal["prores", "webm", "png"]
"""The person over transparency: ProRes 4444 (.mov), VP9 WebM (.webm), or a folder of PNGs."""

Codec = Literal["h264", "hevc", "av1", "vp9"]
"""The composite's video codec."""

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
COMPILE_MODES: tuple[str, ...] = get_args(CompileMode)
MODEL_NAMES: tuple[str, ...] = get_args(ModelName)
SCREENS: tuple[str, ...] = get_args(Screens)


def resolve_precision(precision: str) -> str:
    """'auto' -> fp32 on every device for now: fp16 (encoder and decoder in float16, refiner in
    float32) stays opt-in until its alpha error is measured on a GPU at real sizes."""
    if precision not in PRECISIONS:
        choices = ", ".join(PRECISIONS)
        raise UsageError(f"`precision` must be one of {choices}, got {brief(precision)}")
    return "fp32" if precision == "auto" else precision


@dataclass(frozen=True)
class Job:
    """One video (or still image) to process: the parameters of ``process``, paths kept as
    strings.

    input: the video, or a still image (.png, .jpg, .webp, ...: a still image comes out).
    output: the file to write (its suffix picks the container), or the folder for alpha "png";
        None: <stem>.bgrm<ext> beside the input.
    background: an image or video path, a colour ("#1e1e1e", "white"), "blur", "blur:N" or
        "grayscale"; None: "blur".
    alpha: "prores", "webm" or "png": the person over transparency instead of a background.
    matte: also write the alpha as a grayscale video (or image) there.
    downsample: "auto" or the model's scale in (0, 1].
    batch: frames per model call (None: chosen for the device and frame size).
    device: "auto", "cpu", "cuda" or "cuda:N". precision: "auto", "fp32" or "fp16".
    overwrite: replace existing outputs.
    codec: the composite's codec, "h264", "hevc", "av1" or "vp9" (None: the container's
        default); crf: its constant rate factor (None: the codec's default).
    light_wrap: the new background's light wraps the person's edge, this strong (0, 1]
        (None: off).
    compile: the full-resolution tail compiled into one pass: "auto" (where it pays), "on"
        or "off".
    model: "rvm" (Robust Video Matting) or "selfie" (MediaPipe's selfie segmenter).
    screens: a shot without a person (a shared screen): "keep" it as recorded (opaque in
        alpha and matte outputs), or "replace" its background like any other.
    """

    input: str
    output: str | None = None
    background: str | None = None
    alpha: Alpha | None = None
    matte: str | None = None
    downsample: float | str = "auto"
    batch: int | None = None
    device: str = "auto"
    precision: Precision = "auto"
    overwrite: bool = False
    codec: Codec | None = None
    crf: int | None = None
    light_wrap: float | None = None
    compile: CompileMode = "auto"
    model: ModelName = "rvm"
    screens: Screens = "keep"

    def __post_init__(self) -> None:
        for name in ("input", "output", "background", "matte"):
            value = getattr(self, name)
            if isinstance(value, os.PathLike):
                object.__setattr__(self, name, str(value))
        check_kinds(self, _JOB_KINDS)
        for name in ("input", "output", "background", "matte"):
            _check_path(name, getattr(self, name))
        object.__setattr__(self, "downsample", _downsample(self.downsample))
        if self.batch is not None and self.batch < 1:
            raise UsageError(
                f"`batch` must be a whole number of at least 1, got {brief(self.batch)}"
            )
        resolve_precision(self.precision)
        if self.compile not in COMPILE_MODES:
            choices = ", ".join(COMPILE_MODES)
            raise UsageError(f"`compile` must be one of {choices}, got {brief(self.compile)}")
        if self.model not in MODEL_NAMES:
            choices = ", ".join(MODEL_NAMES)
            raise UsageError(f"`model` must be one of {choices}, got {brief(self.model)}")
        if self.screens not in SCREENS:
            choices = ", ".join(SCREENS)
            raise UsageError(f"`screens` must be one of {choices}, got {brief(self.screens)}")
        self._check_light_wrap()
        self._check_outputs()

    @property
    def still(self) -> bool:
        """Whether the input is a still image (by its suffix)."""
        return is_still_image(self.input)

    @property
    def background_spec(self) -> str:
        """The background asked for, or the default (the room blurred)."""
        return self.background or DEFAULT_BACKGROUND

    def output_path(self) -> Place:
        """Where the result goes: ``output``, else <stem>.bgrm<ext> beside the input."""
        if self.output:
            return Place.of(self.output)
        return default_output(Place.of(self.input), self.alpha)

    def downsample_ratio(self, height: int, width: int) -> float:
        """The model's downsample ratio for a frame size: auto keeps the long side near 512 px."""
        if self.downsample == "auto":
            return min(1.0, 512.0 / max(height, width))
        return float(self.downsample)

    def reads(self) -> dict[str, Place]:
        """Every file the job reads, by parameter: the input, and a background file."""
        background = background_file(self.background)
        return {"input": Place.of(self.input), **({"background": background} if background else {})}

    def writes(self) -> dict[str, Place]:
        """Every file or folder the job writes, by parameter: the output, and the matte."""
        matte = {"matte": Place.of(self.matte)} if self.matte else {}
        return {"output": self.output_path(), **matte}

    def _check_outputs(self) -> None:
        """Refuse output parameters that contradict each other or name an impossible file."""
        if self.alpha is not None:
            self._check_alpha()
        if self.still:
            self._check_still()
        else:
            if self.alpha is None and self.output is not None:
                _check_suffix(Place.of(self.output), "output", VIDEO_OUTPUT_SUFFIXES)
            self._check_codec()
            if self.matte is not None:
                _check_suffix(Place.of(self.matte), "matte", VIDEO_OUTPUT_SUFFIXES)
        if self.matte is not None and Place.of(self.matte).same(self.output_path()):
            raise UsageError(f"`matte` and the output are the same file: {self.matte}")

    def _check_light_wrap(self) -> None:
        if self.light_wrap is None:
            return
        if isinstance(self.light_wrap, bool) or not 0 < self.light_wrap <= 1:
            raise UsageError(
                f"`light_wrap` must be a number in (0, 1], got {brief(self.light_wrap)}"
            )
        if self.alpha is not None:
            raise UsageError(
                "`light_wrap` lights the person with a new background; `alpha` has none"
            )
        if self.background_spec == "blur" or self.background_spec.startswith("blur:"):
            raise UsageError(
                "`light_wrap` needs a new background: the blurred room already is the room's light"
            )

    def _check_codec(self) -> None:
        if self.codec is None and self.crf is None:
            return
        if self.alpha is not None:
            raise UsageError("`codec` and `crf` are for composites; `alpha` has its own codecs")
        suffix = self.output_path().suffix.lower()
        takes = CONTAINER_CODECS[suffix]
        if self.codec is not None and self.codec not in CODECS:
            raise UsageError(f"`codec` must be h264, hevc, av1 or vp9, got {brief(self.codec)}")
        if self.codec is not None and self.codec not in takes:
            raise UsageError(
                f"a {suffix} file cannot hold {self.codec} (it takes {', '.join(takes)}): "
                f"{self.output_path()}"
            )
        low, high = CODECS[self.codec or takes[0]].crf_range
        if self.crf is not None and (isinstance(self.crf, bool) or not low <= self.crf <= high):
            raise UsageError(f"`crf` for {self.codec or takes[0]} must be {low} to {high}")

    def _check_still(self) -> None:
        """A still image in: still images out, and nothing that needs time."""
        if self.alpha not in (None, "png"):
            raise UsageError(f"a still image cannot become a video; use `alpha` png: {self.input}")
        if self.codec is not None or self.crf is not None:
            raise UsageError("`codec` and `crf` are for videos; a still image gives an image")
        suffixes = STILL_ALPHA_SUFFIXES if self.alpha else tuple(STILL_OUTPUTS)
        _check_suffix(self.output_path(), "output", suffixes)
        if self.matte is not None:
            _check_suffix(Place.of(self.matte), "matte", tuple(STILL_OUTPUTS))

    def _check_alpha(self) -> None:
        if self.alpha not in ALPHA_FORMATS:
            raise UsageError(f"`alpha` must be prores, webm or png, got {brief(self.alpha)}")
        if self.background is not None:
            raise UsageError(
                "`alpha` writes the person over transparency; it cannot be combined with "
                "`background`"
            )
        output = self.output_path()
        if self.still:
            return
        if self.alpha == "png":
            if output.suffix.lower() in MEDIA_SUFFIXES:
                raise UsageError(
                    f"`alpha` png writes a folder of PNG frames; `output` must name a folder: "
                    f"{output}"
                )
            return
        suffix = ALPHA_SUFFIXES[self.alpha]
        if output.suffix.lower() != suffix:
            raise UsageError(
                f"`alpha` {self.alpha} writes a {suffix} file; `output` must end in {suffix}"
            )

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Job:
        """The job in ``text`` (as ``to_json`` writes it); UsageError for anything else."""
        return cls(**fields_from_json(cls, text, "job"))


@dataclass(frozen=True)
class Part:
    """Part ``index`` (from 0) of the ``count`` parts of a job split in time.

    It owns the frames shown from ``start_pts`` (None: the first frame) up to, not including,
    ``end_pts`` (None: to the last), in the input's time base, so the parts hold every frame
    exactly once. The model first runs over the frames from ``warmup_pts`` (None: no warm-up)
    and their outputs are dropped, so its recurrent state has settled by ``start_pts``.
    ``expected_frames``: about how many frames it holds, for progress (None: unknown).
    """

    index: int
    count: int
    start_pts: int | None
    end_pts: int | None
    warmup_pts: int | None = None
    expected_frames: int | None = None

    def __post_init__(self) -> None:
        check_kinds(self, _PART_KINDS)
        if not 0 <= self.index < self.count:
            raise UsageError(
                f"a part's `index` must be 0 to `count` - 1, got {self.index} of {self.count}"
            )
        if self.expected_frames is not None and self.expected_frames < 0:
            raise UsageError(f"a part's `expected_frames` must be >= 0, got {self.expected_frames}")
        start, end, warmup = self.start_pts, self.end_pts, self.warmup_pts
        if start is not None and end is not None and not start < end:
            raise UsageError(f"a part must end after it starts, got {start} to {end}")
        if warmup is not None and start is not None and warmup > start:
            raise UsageError(f"a part's warm-up must begin by its start, got {warmup} > {start}")

    def owns(self, pts: int) -> bool:
        """Whether the frame shown at ``pts`` belongs to this part."""
        after_start = self.start_pts is None or pts >= self.start_pts
        return after_start and (self.end_pts is None or pts < self.end_pts)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Part:
        """The part in ``text`` (as ``to_json`` writes it); UsageError for anything else."""
        return cls(**fields_from_json(cls, text, "part"))


@dataclass(frozen=True)
class Split:
    """How a job is cut in time: into ``count`` parts of equal length, or into parts of
    ``seconds`` each (exactly one of the two)."""

    count: int | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        check_kinds(self, _SPLIT_KINDS)
        if (self.count is None) == (self.seconds is None):
            raise UsageError("give either the number of parts or their length in seconds, not both")
        if self.count is not None and self.count < 1:
            raise UsageError(f"the number of parts must be at least 1, got {self.count}")
        if self.seconds is not None and not 0 < self.seconds < math.inf:
            raise UsageError(f"the length of the parts must be seconds > 0, got {self.seconds}")

    @classmethod
    def from_json(cls, text: str) -> Split:
        """{"count": N} or {"seconds": S}; UsageError for anything else."""
        return cls(**fields_from_json(cls, text, "split"))


_JOB_KINDS = {
    "input": (str,),
    "output": (str, None),
    "background": (str, None),
    "alpha": (str, None),
    "matte": (str, None),
    "downsample": (str, *NUMBER),
    "batch": (WHOLE, None),
    "device": (str,),
    "precision": (str,),
    "overwrite": (bool,),
    "codec": (str, None),
    "crf": (WHOLE, None),
    "light_wrap": (*NUMBER, None),
    "compile": (str,),
    "model": (str,),
    "screens": (str,),
}
_PART_KINDS = {
    "index": (WHOLE,),
    "count": (WHOLE,),
    "start_pts": (WHOLE, None),
    "end_pts": (WHOLE, None),
    "warmup_pts": (WHOLE, None),
    "expected_frames": (WHOLE, None),
}
_SPLIT_KINDS = {"count": (WHOLE, None), "seconds": (*NUMBER, None)}


def _check_path(name: str, path: str | None) -> None:
    """A file's name: not empty, no NUL character (no file is called so)."""
    if path is not None and (not path or "\0" in path):
        raise UsageError(f"`{name}` names no file: {brief(path)}")


def _downsample(value: float | str) -> float | str:
    """'auto', or a ratio in (0, 1] given as a number or a numeral."""
    if value == "auto":
        return value
    try:
        ratio = float(value)
    except (TypeError, ValueError):
        ratio = -1.0
    if not 0.0 < ratio <= 1.0:
        raise UsageError(f"`downsample` must be 'auto' or a number in (0, 1], got {brief(value)}")
    return ratio


def _check_suffix(path: Place, parameter: str, suffixes: tuple[str, ...]) -> None:
    if path.suffix.lower() not in suffixes:
        shown = path.suffix or "(none)"
        known = ", ".join(suffixes[:-1]) + " or " + suffixes[-1]
        raise UsageError(f"unknown container {shown!r} for `{parameter}` (use {known}): {path}")
