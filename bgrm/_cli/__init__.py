"""The `bgrm` command (private): flags -> bgrm's public API, progress bars and exit codes.

Only this package knows flag names and exit codes; the library speaks of parameters. Every
error meant for the user is one line on stderr and a distinct exit code (see README); no
traceback reaches the user.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from bgrm import __version__
from bgrm._cli import models, queue
from bgrm._cli.bench import bench
from bgrm._cli.flags import with_optional_values
from bgrm._cli.preview import preview
from bgrm._cli.process import process

app = typer.Typer(
    help="Remove or replace the background of recorded video.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"bgrm {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Remove or replace the background of recorded video."""


app.command()(process)
app.command()(preview)
app.command()(bench)
app.add_typer(models.app, name="models")
for command in (queue.submit, queue.status, queue.cancel, queue.worker):
    app.command()(command)


def main() -> None:
    app(args=with_optional_values(sys.argv[1:]), prog_name="bgrm")
