"""What one job asks for: a frozen dataclass shared by the CLI and the queue (JSON round-trip)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from bgrm.errors import UsageError

DEFAULT_BACKGROUND = "blur"
PRECISIONS = ("auto", "fp32", "fp16")


@dataclass(frozen=True)
class ProcessOptions:
    """One processing job. Paths are strings so the options travel as JSON unchanged."""

    input: str
    output: str | None = None  # None: <stem>.bgrm<ext> beside the input
    background: str = DEFAULT_BACKGROUND  # image path, colour, "blur" or "blur:N"
    downsample: str = "auto"  # "auto" or a ratio in (0, 1]
    batch: int | None = None  # frames per model call; None: chosen for the device
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: str = "auto"  # auto (fp32 for now) | fp32 | fp16
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.batch is not None and self.batch < 1:
            raise UsageError(f"--batch must be at least 1, got {self.batch}")
        if self.precision not in PRECISIONS:
            choices = ", ".join(PRECISIONS)
            raise UsageError(f"--precision must be one of {choices}, got {self.precision!r}")
        self.downsample_ratio(1, 1)  # validates the value early

    def output_path(self) -> Path:
        """Where the result goes: -o, else <stem>.bgrm<ext> beside the input."""
        if self.output:
            return Path(self.output)
        source = Path(self.input)
        return source.with_name(f"{source.stem}.bgrm{source.suffix}")

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
