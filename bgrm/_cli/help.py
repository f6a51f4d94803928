"""Plain `--help` pages: each option with its metavar (`--crf N`, `-o PATH`), flags bare.

Typer's own pages tag every parameter with its Python type (`<bool>`, `<list[Path]>`,
`{inputs}...`); these commands and groups write Click-style pages instead, from the
metavars and help texts the commands declare. (Typer's context and formatter types are not
public, hence ``Any``.)
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption


class PlainCommand(TyperCommand):
    """A command whose help lists its arguments and options by metavar."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = ["[OPTIONS]"]
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                pieces.append(_argument_name(param))
        return pieces

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self.format_usage(ctx, formatter)
        self.format_help_text(ctx, formatter)
        params = self.get_params(ctx)
        arguments = [_argument_row(p) for p in params if isinstance(p, TyperArgument)]
        options = [_option_row(p) for p in params if isinstance(p, TyperOption) and not p.hidden]
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


class PlainGroup(TyperGroup):
    """A group whose help lists its options by metavar and its commands by their first line."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self.format_usage(ctx, formatter)
        self.format_help_text(ctx, formatter)
        options = [_option_row(p) for p in self.get_params(ctx) if isinstance(p, TyperOption)]
        with formatter.section("Options"):
            formatter.write_dl(options)
        commands = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                commands.append((name, command.get_short_help_str(limit=80)))
        with formatter.section("Commands"):
            formatter.write_dl(commands)


def _argument_name(param: TyperArgument) -> str:
    name = param.metavar or (param.name or "").upper()
    return name if param.nargs == 1 or name.endswith("...") else f"{name}..."


def _argument_row(param: TyperArgument) -> tuple[str, str]:
    return _argument_name(param), param.help or ""


def _option_row(param: TyperOption) -> tuple[str, str]:
    """('-o, --output PATH', 'help  [default: x]') for one option."""
    names = ", ".join(sorted(param.opts, key=len))
    if not param.is_flag and not param.count:
        names += f" {param.metavar or 'VALUE'}"
    help = param.help or ""
    if isinstance(param.show_default, str):
        help += f"  [default: {param.show_default}]"
    elif param.show_default is not False and _shows_default(param):
        help += f"  [default: {param.default}]"
    return names, help


def _shows_default(param: TyperOption) -> bool:
    """A default worth printing: a word or a number, not None or a flag's False."""
    return not param.is_flag and isinstance(param.default, (str, int, float))
