"""One job: what ``process()`` takes, as a frozen dataclass that travels as JSON unchanged.

Every check that needs no file is made when a Job is built, so contradictory or impossible
parameters fail before any work starts. Messages name parameters in backticks.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field

from bgrm.backgrounds import DEFAULT_BACKGROUND, background_file, is_blur
from bgrm.errors import UsageError, brief
from bgrm.fields import check_choices, check_kinds, described, document, either, fields_from_json
from bgrm.media.formats import (
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
from bgrm.options import Alpha, Codec, CompileMode, ModelName, Precision, Screens
from bgrm.places import Place

_FIRST = {suffix: codecs[0] for suffix, codecs in CONTAINER_CODECS.items()}
_CODEC_DEFAULT = _FIRST[".mp4"] + "".join(
    f"; {codec} in {suffix}" for suffix, codec in _FIRST.items() if codec != _FIRST[".mp4"]
)
"""A composite's codec where `codec` is None, in words: "h264; vp9 in .webm"."""


@document
@dataclass(frozen=True)
class Job:
    """One video (or still image) to process: the parameters of ``process``, paths kept as
    strings. Each field is declared once, here, with its help: the CLI's flags, the JSON
    checks and ``process``'s options are made from these fields (see "Parameters")."""

    input: str = field(
        metadata=described(
            "the video, or a still image (.png, .jpg, .webp, ...: a still image comes out); "
            "s3://bucket/key names an object in a bucket",
            "INPUT",
        )
    )
    output: str | None = field(
        default=None,
        metadata=described(
            "the file to write (its suffix picks the container: .mp4, .mov, .mkv, .webm), or "
            "the folder of frames for `alpha` png (default: <stem>.bgrm<ext> beside the input)",
            "PATH",
        ),
    )
    background: str | None = field(
        default=None,
        metadata=described(
            "the new background: an image, a video, a colour (#RRGGBB or a CSS name), "
            "'blur', 'blur:N' (a radius of N pixels at 1080p) or 'grayscale' (the room in gray) "
            f"(default: {DEFAULT_BACKGROUND})",
            "SPEC",
        ),
    )
    alpha: Alpha | None = field(
        default=None,
        metadata=described(
            "no background: the person over transparency, as prores (ProRes 4444 in .mov), "
            "webm (VP9 in .webm) or png (a folder of RGBA PNGs)",
            "FORMAT",
        ),
    )
    matte: str | None = field(
        default=None,
        metadata=described(
            "also write the alpha as a grayscale video, in the same pass (.mkv: lossless; "
            ".mp4, .mov, .webm), or as an image for a still input",
            "PATH",
        ),
    )
    downsample: float | str = field(
        default="auto",
        metadata=described(
            "the model's input scale: 'auto' (the long side near 512 px) or a ratio in (0, 1]", "R"
        ),
    )
    batch: int | None = field(
        default=None,
        metadata=described(
            "frames per model call (default: chosen for the device and the frame size, "
            "~2 Mpixel on a CPU, 16 on a GPU)",
            "N",
        ),
    )
    device: str = field(
        default="auto",
        metadata=described("where the model runs: auto, cpu, cuda or cuda:N", "DEVICE"),
    )
    precision: Precision = field(
        default="auto",
        metadata=described(
            "the model's floats: auto (fp32 for now), fp32 or fp16 (encoder and decoder in "
            "float16; opt-in)",
            "MODE",
        ),
    )
    overwrite: bool = field(
        default=False,
        metadata=described(
            "replace existing outputs (a folder of PNG frames only if bgrm wrote it)"
        ),
    )
    codec: Codec | None = field(
        default=None,
        metadata=described(
            f"the composite's codec, {either(CODECS)} (default: {_CODEC_DEFAULT}); the "
            "container must take it",
            "CODEC",
        ),
    )
    crf: int | None = field(
        default=None,
        metadata=described(
            "the composite's quality, lower is better and larger (default: "
            + ", ".join(f"{name} {codec.crf}" for name, codec in CODECS.items())
            + ")",
            "N",
        ),
    )
    light_wrap: float | None = field(
        default=None,
        metadata=described(
            "the new background's light wraps the person's edge, this strong, in (0, 1] (0.5 "
            "is a good start; default: off); not with the blurred room or `alpha`",
            "S",
        ),
    )
    compile: CompileMode = field(
        default="auto",
        metadata=described(
            "the full-resolution tail compiled into one pass: auto (where the video is long "
            "enough to repay the compile), on or off; the pixels agree within 1/255",
            "MODE",
        ),
    )
    model: ModelName = field(
        default="rvm",
        metadata=described(
            "the matting model: rvm (Robust Video Matting: fine edges, held objects) or selfie "
            "(MediaPipe's selfie segmenter: about 3.9x faster on a CPU at 1080p, coarser edges)",
            "NAME",
        ),
    )
    screens: Screens = field(
        default="keep",
        metadata=described(
            "a shot (cut to cut) in which the model finds no person, such as a shared screen: "
            "keep it as recorded (opaque in `alpha` and `matte` outputs), or replace its "
            "background like any other",
            "MODE",
        ),
    )

    def __post_init__(self) -> None:
        for name in ("input", "output", "background", "matte"):
            value = getattr(self, name)
            if isinstance(value, os.PathLike):
                object.__setattr__(self, name, str(value))
        check_kinds(self)
        check_choices(self)
        for name in ("input", "output", "background", "matte"):
            _check_path(name, getattr(self, name))
        object.__setattr__(self, "downsample", _downsample(self.downsample))
        if self.batch is not None and self.batch < 1:
            raise UsageError(
                f"`batch` must be a whole number of at least 1, got {brief(self.batch)}"
            )
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
        if is_blur(self.background_spec):
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
        check_kinds(self)
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
        check_kinds(self)
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
