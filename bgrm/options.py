"""What one job asks for: a frozen dataclass shared by the CLI and the queue (JSON round-trip).

Every check that needs no file is made here, when the options are built, so contradictory or
impossible options fail before any work starts.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from bgrm.errors import UsageError

DEFAULT_BACKGROUND = "blur"
PRECISIONS = ("auto", "fp32", "fp16")

ALPHA_SUFFIXES = {"prores": ".mov", "webm": ".webm"}
"""The file suffix each alpha video format needs."""

ALPHA_FORMATS = (*ALPHA_SUFFIXES, "png")

VIDEO_OUTPUT_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm")
"""Suffixes of the composite and matte outputs; the suffix picks the container."""

MEDIA_SUFFIXES = frozenset(
    {*VIDEO_OUTPUT_SUFFIXES, ".avi", ".m4v", ".mxf", ".ts", ".png", ".jpg", ".jpeg", ".gif"}
    | {".tif", ".tiff", ".webp"}
)
"""Suffixes that name a file, not a folder: refused as the folder of --alpha png."""

PNG_FOLDER_SUFFIX = ".bgrm-frames"


@dataclass(frozen=True)
class ProcessOptions:
    """One processing job. Paths are strings so the options travel as JSON unchanged."""

    input: str
    output: str | None = None  # None: <stem>.bgrm<ext> beside the input (see output_path)
    background: str | None = None  # image or video path, colour, "blur", "blur:N"; None: blur
    downsample: str = "auto"  # "auto" or a ratio in (0, 1]
    batch: int | None = None  # frames per model call; None: chosen for the device
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: str = "auto"  # auto (fp32 for now) | fp32 | fp16
    overwrite: bool = False
    alpha: str | None = None  # prores | webm | png: the person with transparency, no background
    matte: str | None = None  # also write the alpha matte as a grayscale video here

    def __post_init__(self) -> None:
        if self.batch is not None and self.batch < 1:
            raise UsageError(f"--batch must be at least 1, got {self.batch}")
        if self.precision not in PRECISIONS:
            choices = ", ".join(PRECISIONS)
            raise UsageError(f"--precision must be one of {choices}, got {self.precision!r}")
        self.downsample_ratio(1, 1)  # validates the value early
        self._check_outputs()

    @property
    def background_spec(self) -> str:
        """The --bg value, or the default (the room blurred)."""
        return self.background or DEFAULT_BACKGROUND

    def output_path(self) -> Path:
        """Where the result goes: -o, else <stem>.bgrm<ext> beside the input.

        ``<ext>`` is the input's for a composite (.mkv when bgrm cannot write the input's
        container, e.g. .ts or .avi: Matroska takes every audio codec as it is), .mov for
        ProRes, .webm for VP9; PNG frames go to the folder <stem>.bgrm-frames.
        """
        if self.output:
            return Path(self.output)
        source = Path(self.input)
        if self.alpha == "png":
            return source.with_name(source.stem + PNG_FOLDER_SUFFIX)
        same = source.suffix if source.suffix.lower() in VIDEO_OUTPUT_SUFFIXES else ".mkv"
        suffix = ALPHA_SUFFIXES.get(self.alpha or "", same)
        return source.with_name(f"{source.stem}.bgrm{suffix}")

    def downsample_ratio(self, height: int, width: int) -> float:
        """The model's downsample ratio for a frame size: auto keeps the long side near 512 px."""
        if self.downsample == "auto":
            return min(1.0, 512.0 / max(height, width))
        try:
            ratio = float(self.downsample)
        except ValueError:
            ratio = -1.0
        if not 0.0 < ratio <= 1.0:
            raise UsageError(
                f"--downsample must be 'auto' or a number in (0, 1], got {self.downsample!r}"
            )
        return ratio

    def _check_outputs(self) -> None:
        """Refuse output options that contradict each other or name an impossible file."""
        if self.alpha is not None:
            self._check_alpha()
        elif self.output is not None:
            _check_video_suffix(Path(self.output), "-o")
        if self.matte is not None:
            matte = Path(self.matte)
            _check_video_suffix(matte, "--matte")
            if matte.resolve() == self.output_path().resolve():
                raise UsageError(f"--matte and the output are the same file: {matte}")

    def _check_alpha(self) -> None:
        if self.alpha not in ALPHA_FORMATS:
            raise UsageError(f"--alpha must be prores, webm or png, got {self.alpha!r}")
        if self.background is not None:
            raise UsageError(
                "--alpha writes the person over transparency; it cannot be combined with --bg"
            )
        output = self.output_path()
        if self.alpha == "png":
            if output.suffix.lower() in MEDIA_SUFFIXES:
                raise UsageError(
                    f"--alpha png writes a folder of PNG frames; -o must name a folder: {output}"
                )
            return
        suffix = ALPHA_SUFFIXES[self.alpha]
        if output.suffix.lower() != suffix:
            raise UsageError(
                f"--alpha {self.alpha} writes a {suffix} file; -o must end in {suffix}"
            )

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ProcessOptions:
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise UsageError(f"unknown job options: {', '.join(sorted(unknown))}")
        return cls(**data)


def _check_video_suffix(path: Path, flag: str) -> None:
    if path.suffix.lower() not in VIDEO_OUTPUT_SUFFIXES:
        shown = path.suffix or "(none)"
        raise UsageError(
            f"unknown output container {shown!r} for {flag} (use .mp4, .mov, .mkv or .webm): {path}"
        )
