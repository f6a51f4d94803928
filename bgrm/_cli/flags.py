"""The job flags, declared once and given to every command that makes a job (process, submit,
preview).

An option added to :func:`job_flags` reaches every such command, and the fields it returns are
the keyword arguments of :class:`bgrm.Job`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, get_type_hints

import typer

from bgrm.backgrounds import DEFAULT_BACKGROUND

LIGHT_WRAP_DEFAULT = "0.5"
"""The strength of --light-wrap given without a value."""

OPTIONAL_VALUES = {"--light-wrap": LIGHT_WRAP_DEFAULT}
"""Options whose value may be left out, and the value they then take."""


def with_optional_values(argv: list[str]) -> list[str]:
    """``argv`` with the default value put after each OPTIONAL_VALUES option given without
    one (followed by another option, an input, or nothing)."""
    result = []
    for index, arg in enumerate(argv):
        result.append(arg)
        if arg in OPTIONAL_VALUES:
            following = argv[index + 1] if index + 1 < len(argv) else None
            if following is None or not _is_number(following):
                result.append(OPTIONAL_VALUES[arg])
    return result


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def job_flags(
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="Output file, or folder for --alpha png "
            "(default: <stem>.bgrm<ext> beside the input).",
        ),
    ] = None,
    bg: Annotated[
        str | None,
        typer.Option(
            "--bg",
            help="New background: an image, a video, a colour (#RRGGBB or a CSS name), 'blur' "
            f"or 'blur:N'. Default: {DEFAULT_BACKGROUND}.",
            show_default=False,
        ),
    ] = None,
    alpha: Annotated[
        str | None,
        typer.Option(
            "--alpha",
            help="No background: the person with transparency. prores (.mov, ProRes 4444), "
            "webm (.webm, VP9) or png (a folder of RGBA PNGs).",
            show_default=False,
        ),
    ] = None,
    matte: Annotated[
        Path | None,
        typer.Option(
            "--matte",
            help="Also write the alpha matte as a grayscale video (.mkv: lossless; .mp4, .mov, "
            ".webm), in the same pass.",
            show_default=False,
        ),
    ] = None,
    downsample: Annotated[
        str,
        typer.Option(help="Model input scale: 'auto' (long side ~512 px) or a ratio in (0, 1]."),
    ] = "auto",
    batch: Annotated[
        int | None,
        typer.Option(help="Frames per model call (default: ~2 Mpixel on CPU, 16 on GPU)."),
    ] = None,
    precision: Annotated[
        str, typer.Option(help="auto (fp32), fp32 or fp16 (encoder/decoder in float16; opt-in).")
    ] = "auto",
    overwrite: Annotated[
        bool, typer.Option("-y", "--overwrite", help="Replace an existing output file.")
    ] = False,
    codec: Annotated[
        str | None,
        typer.Option(
            "--codec",
            help="Codec of the composite: h264, hevc, av1 or vp9 (default: h264; vp9 in .webm).",
            show_default=False,
        ),
    ] = None,
    light_wrap: Annotated[
        float | None,
        typer.Option(
            "--light-wrap",
            help="Let the new background's light wrap the person's edge: --light-wrap alone "
            f"for {LIGHT_WRAP_DEFAULT}, or a strength in (0, 1]. Not with the blurred room.",
            show_default=False,
        ),
    ] = None,
    compile: Annotated[
        str,
        typer.Option(
            "--compile",
            help="Fuse the full-resolution tail into one compiled pass: auto (when the video is "
            "long enough to repay the compile), on or off. Same pixels within 1/255.",
        ),
    ] = "auto",
    crf: Annotated[
        int | None,
        typer.Option(
            "--crf",
            help="Quality of the composite, lower is better and larger (default: h264 18, "
            "hevc 22, av1 30, vp9 18).",
            show_default=False,
        ),
    ] = None,
) -> dict[str, Any]:
    """The processing flags shared by every command that makes a job -> Job fields."""
    return {
        "output": str(output) if output else None,
        "background": bg,
        "alpha": alpha,
        "matte": str(matte) if matte else None,
        "downsample": downsample,
        "batch": batch,
        "precision": precision,
        "overwrite": overwrite,
        "codec": codec,
        "crf": crf,
        "light_wrap": light_wrap,
        "compile": compile,
    }


def with_job_flags(command: Callable[..., None]) -> Callable[..., None]:
    """Give ``command`` the flags of :func:`job_flags`; it receives their fields as ``job``.

    The command declares its own parameters plus ``job: dict``; the wrapper's signature (what
    Typer reads) is the command's arguments, the job flags, then the command's own options.
    """
    own = inspect.signature(command, eval_str=True)
    flags = inspect.signature(job_flags, eval_str=True)
    own_params = [p for p in own.parameters.values() if p.name != "job"]
    flag_names = set(flags.parameters)

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> None:
        job = job_flags(**{name: kwargs.pop(name) for name in flag_names})
        command(job=job, **kwargs)

    arguments = [p for p in own_params if p.default is p.empty]
    options = [p for p in own_params if p.default is not p.empty]
    wrapper.__signature__ = own.replace(
        parameters=[*arguments, *flags.parameters.values(), *options]
    )
    hints = {
        **get_type_hints(command, include_extras=True),
        **get_type_hints(job_flags, include_extras=True),
    }
    hints.pop("job", None)
    wrapper.__annotations__ = hints
    return wrapper
