"""`bgrm bench`: CPU ms a frame of each stage, both models, and the whole job on a clip (the
harness is bgrm_bench.stages)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from bgrm._cli.errors import user_errors


def bench(
    clip: Annotated[
        Path | None,
        typer.Argument(metavar="CLIP", help="Clip to time (default: a generated one)."),
    ] = None,
    size: Annotated[
        str | None,
        typer.Option(
            metavar="WxH",
            help="Size of the generated clip (default 1920x1080), or CLIP scaled to it.",
        ),
    ] = None,
    frames: Annotated[int, typer.Option(metavar="N", help="Frames timed per stage.")] = 48,
    bg: Annotated[
        str, typer.Option("--bg", metavar="SPEC", help="Background, as for process.")
    ] = "#1e1e1e",
    downsample: Annotated[str, typer.Option(metavar="R", help="As for process.")] = "auto",
    device: Annotated[str, typer.Option(metavar="DEVICE", help="As for process.")] = "auto",
    precision: Annotated[str, typer.Option(metavar="MODE", help="As for process.")] = "auto",
    compile: Annotated[
        str, typer.Option(metavar="MODE", help="As for process (auto, on, off).")
    ] = "auto",
    model: Annotated[
        str,
        typer.Option("--model", metavar="NAME", help="Model of the end-to-end run (rvm, selfie)."),
    ] = "rvm",
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
) -> None:
    """CPU ms a frame of decode, model input, model, full-resolution step and encode, on the
    path a job takes, for both models; and frames/s end to end."""
    import bgrm
    from bgrm.media.probe import probe
    from bgrm_bench.process import make_clip
    from bgrm_bench.stages import run_bench, synthetic_clip

    with user_errors(), tempfile.TemporaryDirectory(prefix="bgrm-bench-") as tmp:
        made = Path(tmp) / "clip.mp4"
        if clip is None:
            clip = synthetic_clip(made, *_size(size or "1920x1080"), frames)
        elif size is not None:  # the clip looped to ``frames`` and scaled
            probe(clip)  # a readable video, or one line on stderr
            make_clip(clip, made, *_size(size), frames, audio_from=None)
            clip = made
        job = bgrm.Job(
            input=str(clip),
            background=bg,
            downsample=downsample,
            device=device,
            precision=precision,
            compile=compile,
            model=model,
        )
        report = run_bench(job, frames)
        if not json_out:
            typer.echo(report.table())
        typer.echo(json.dumps(report.as_dict()))


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        width = height = 0
    if width < 16 or height < 16:
        raise typer.BadParameter(f"--size must be WxH, e.g. 1920x1080, got {text!r}")
    return width, height
