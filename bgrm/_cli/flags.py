"""The job flags, declared once and given to every command that makes a job (process, submit,
preview).

An option added to :func:`job_flags` reaches every such command, and the fields it returns are
the keyword arguments of :class:`bgrm.Job`.
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable
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
        str | None,
        typer.Option(
            "-o",
            "--output",
            metavar="PATH",
            help="Output file, or a folder (a trailing / or an existing folder: the usual name "
            "in it, made if missing); the folder of frames for --alpha png. Default: "
            "<stem>.bgrm<ext> beside the input.",
        ),
    ] = None,
    bg: Annotated[
        str | None,
        typer.Option(
            "--bg",
            metavar="SPEC",
            help="New background: an image, a video, a colour (#RRGGBB or a CSS name), 'blur', "
            f"'blur:N' or 'grayscale'. Default: {DEFAULT_BACKGROUND}.",
            show_default=False,
        ),
    ] = None,
    alpha: Annotated[
        str | None,
        typer.Option(
            "--alpha",
            metavar="FORMAT",
            help="No background: the person with transparency. prores (.mov, ProRes 4444), "
            "webm (.webm, VP9) or png (a folder of RGBA PNGs).",
            show_default=False,
        ),
    ] = None,
    matte: Annotated[
        str | None,
        typer.Option(
            "--matte",
            metavar="PATH",
            help="Also write the alpha matte as a grayscale video (.mkv: lossless; .mp4, .mov, "
            ".webm), in the same pass.",
            show_default=False,
        ),
    ] = None,
    downsample: Annotated[
        str,
        typer.Option(
            metavar="R",
            help="Model input scale: 'auto' (long side ~512 px) or a ratio in (0, 1].",
        ),
    ] = "auto",
    batch: Annotated[
        int | None,
        typer.Option(
            metavar="N", help="Frames per model call (default: ~2 Mpixel on CPU, 16 on GPU)."
        ),
    ] = None,
    precision: Annotated[
        str,
        typer.Option(
            metavar="MODE", help="auto (fp32), fp32 or fp16 (encoder/decoder in float16; opt-in)."
        ),
    ] = "auto",
    overwrite: Annotated[
        bool, typer.Option("-y", "--overwrite", help="Replace an existing output file.")
    ] = False,
    codec: Annotated[
        str | None,
        typer.Option(
            "--codec",
            metavar="CODEC",
            help="Codec of the composite: h264, hevc, av1 or vp9 (default: h264; vp9 in .webm).",
            show_default=False,
        ),
    ] = None,
    light_wrap: Annotated[
        float | None,
        typer.Option(
            "--light-wrap",
            metavar="S",
            help="Let the new background's light wrap the person's edge: --light-wrap alone "
            f"for {LIGHT_WRAP_DEFAULT}, or a strength in (0, 1]. Not with the blurred room.",
            show_default=False,
        ),
    ] = None,
    compile: Annotated[
        str,
        typer.Option(
            "--compile",
            metavar="MODE",
            help="Fuse the full-resolution tail into one compiled pass: auto (when the video is "
            "long enough to repay the compile), on or off. Same pixels within 1/255.",
        ),
    ] = "auto",
    model: Annotated[
        str,
        typer.Option(
            "--model",
            metavar="NAME",
            help="rvm (Robust Video Matting: fine edges, held objects) or selfie (MediaPipe's "
            "selfie segmenter: about 2.4x faster on a CPU, coarser edges).",
        ),
    ] = "rvm",
    screens: Annotated[
        str,
        typer.Option(
            "--screens",
            metavar="MODE",
            help="A shot (cut to cut) in which no person is found, such as a shared screen: "
            "keep it as recorded (opaque with --alpha and --matte), or replace its background "
            "like any other.",
        ),
    ] = "keep",
    crf: Annotated[
        int | None,
        typer.Option(
            "--crf",
            metavar="N",
            help="Quality of the composite, lower is better and larger (default: h264 18, "
            "hevc 22, av1 30, vp9 18).",
            show_default=False,
        ),
    ] = None,
) -> dict[str, Any]:
    """The processing flags shared by every command that makes a job -> Job fields."""
    return {
        "output": output or None,  # a string: a trailing / says "a folder"
        "background": bg,
        "alpha": alpha,
        "matte": matte or None,
        "downsample": downsample,
        "batch": batch,
        "precision": precision,
        "overwrite": overwrite,
        "codec": codec,
        "crf": crf,
        "light_wrap": light_wrap,
        "compile": compile,
        "model": model,
        "screens": screens,
    }


def with_job_flags(
    output_help: str | None = None,
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command the flags of :func:`job_flags`; it receives their fields as ``job``.

    The command declares its own parameters plus ``job: dict``; the wrapper's signature (what
    Typer reads) is the command's arguments, the job flags, then the command's own options.
    ``output_help`` replaces the help of -o, where the command gives it another meaning.
    """
    return functools.partial(_with_job_flags, output_help=output_help)


def _with_job_flags(
    command: Callable[..., None], *, output_help: str | None
) -> Callable[..., None]:
    own = inspect.signature(command, eval_str=True)
    flags = inspect.signature(job_flags, eval_str=True)
    own_params = [p for p in own.parameters.values() if p.name != "job"]
    flag_names = set(flags.parameters)

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> None:
        job = job_flags(**{name: kwargs.pop(name) for name in flag_names})
        command(job=job, **kwargs)

    hints = {
        **get_type_hints(command, include_extras=True),
        **get_type_hints(job_flags, include_extras=True),
    }
    hints.pop("job", None)
    flag_params = list(flags.parameters.values())
    if output_help is not None:
        option = copy.copy(hints["output"].__metadata__[0])
        option.help = output_help
        hints["output"] = Annotated[str | None, option]
        flag_params = [
            p.replace(annotation=hints["output"]) if p.name == "output" else p for p in flag_params
        ]
    arguments = [p for p in own_params if p.default is p.empty]
    options = [p for p in own_params if p.default is not p.empty]
    wrapper.__signature__ = own.replace(parameters=[*arguments, *flag_params, *options])
    wrapper.__annotations__ = hints
    return wrapper
