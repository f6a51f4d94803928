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
from bgrm._cli.errors import EXIT_INTERRUPTED, EXIT_USAGE
from bgrm._cli.flags import with_optional_values
from bgrm._cli.help import PlainCommand, PlainGroup
from bgrm._cli.preview import preview
from bgrm._cli.process import process

app = typer.Typer(
    help="Remove or replace the background of recorded video.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=PlainGroup,
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


for command in (process, preview, bench, queue.submit, queue.status, queue.cancel, queue.worker):
    app.command(cls=PlainCommand)(command)
app.add_typer(models.app, name="models")


def main() -> None:
    """Run the command line; a parse error (an unknown option, a value of the wrong kind, a
    missing argument) is one line on stderr naming the flag, exit code 2."""
    command = typer.main.get_command(app)
    try:
        code = command.main(
            args=with_optional_values(sys.argv[1:]), prog_name="bgrm", standalone_mode=False
        )
    except typer.Abort:
        code = EXIT_INTERRUPTED
    except typer.TyperException as error:  # Typer's parse errors (its Click's UsageError)
        code = _parse_error(error)
    sys.exit(code if isinstance(code, int) else 0)


def _parse_error(error: typer.TyperException) -> int:
    """One line for a parse error, exit 2; the help page for a command given nothing."""
    context = getattr(error, "ctx", None)
    if type(error).__name__ == "NoArgsIsHelpError" and context is not None:
        typer.echo(context.get_help())
        return 0
    message = " ".join(error.format_message().split())
    where = context.command_path if context is not None else "bgrm"
    typer.echo(f"bgrm: error: {message} (see `{where} --help`)", err=True)
    return getattr(error, "exit_code", EXIT_USAGE)
