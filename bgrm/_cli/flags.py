"""The job flags, made from :class:`bgrm.Job`'s fields and given to every command that makes a
job (process, submit, preview).

A field added to Job becomes a flag of every such command, with the field's help (its
`parameters` named by their flags), its value's name and its default; its flag is
--<name with dashes>, or the spelling in SPELLED. The fields a command receives are the keyword
arguments of :class:`bgrm.Job`.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
from collections.abc import Callable
from typing import Annotated, Any, get_type_hints

import typer

from bgrm import Job
from bgrm.fields import alternatives, types_of

SPELLED = {
    "output": ("-o", "--output"),
    "background": ("--bg",),
    "overwrite": ("-y", "--overwrite"),
}
"""Job parameters whose flags are not --<name with dashes>: the first is the one messages name."""

ARGUMENT = "input"
"""The Job parameter each command takes as its argument (INPUT), not as a flag."""

LIGHT_WRAP_DEFAULT = "0.5"
"""The strength of --light-wrap given without a value."""

OPTIONAL_VALUES = {"--light-wrap": LIGHT_WRAP_DEFAULT}
"""Options whose value may be left out, and the value they then take."""


def flag_of(name: str) -> str:
    """The flag that sets Job parameter ``name`` (INPUT for the argument)."""
    if name == ARGUMENT:
        return "INPUT"
    return SPELLED.get(name, (f"--{name.replace('_', '-')}",))[0]


FLAGS = {field.name: flag_of(field.name) for field in dataclasses.fields(Job)}
"""Each job parameter's flag."""


def in_flag_words(message: str) -> str:
    """A library message (or help) with every `parameter` named by its flag."""
    return re.sub(r"`(\w+)`", lambda m: FLAGS.get(m.group(1), m.group(1)), message)


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


def job_options(
    *, output_help: str | None = None, without: tuple[str, ...] = ()
) -> list[inspect.Parameter]:
    """A Typer option for each Job field but the argument and those ``without``: its flag,
    help, value name and default, of the type Typer parses (text where Job parses the value
    itself: a choice, 'auto' or a number); ``output_help`` replaces the help of -o."""
    hints = types_of(Job)
    options = []
    for field in dataclasses.fields(Job):
        if field.name == ARGUMENT or field.name in without:
            continue
        help = _sentence(in_flag_words(field.metadata["help"]))
        if field.name == "output" and output_help is not None:
            help = output_help
        flag = flag_of(field.name)
        if flag in OPTIONAL_VALUES:
            help += f" {flag} alone: {OPTIONAL_VALUES[flag]}."
        option = typer.Option(
            *SPELLED.get(field.name, (flag,)),
            metavar=field.metadata["value"],
            help=help,
            show_default=field.default is not None and not isinstance(field.default, bool),
        )
        annotation = Annotated[_parsed_as(hints[field.name]), option]
        options.append(
            inspect.Parameter(
                field.name,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=field.default,
                annotation=annotation,
            )
        )
    return options


def _parsed_as(hint: Any) -> Any:
    """The type Typer parses a field's value as: bool, int, float or str, or None too."""
    kinds = [kind for kind in alternatives(hint) if kind is not type(None)]
    parsed = kinds[0] if len(kinds) == 1 and kinds[0] in (bool, int, float) else str
    return parsed | None if len(kinds) < len(alternatives(hint)) else parsed


def _sentence(help: str) -> str:
    """'the new background: ...' -> 'The new background: ....'"""
    return help[0].upper() + help[1:] + "."


def with_job_flags(
    output_help: str | None = None, without: tuple[str, ...] = ()
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command a flag for each Job field (see :func:`job_options`); it receives their
    values as ``job``, a dict of Job keyword arguments.

    The command declares its own parameters plus ``job: dict``; the wrapper's signature (what
    Typer reads) is the command's arguments, the job flags, then the command's own options.
    ``output_help`` replaces the help of -o, where the command gives it another meaning;
    ``without`` names fields the command has no flag for.
    """
    return functools.partial(_with_job_flags, output_help=output_help, without=without)


def _with_job_flags(
    command: Callable[..., None], *, output_help: str | None, without: tuple[str, ...]
) -> Callable[..., None]:
    own = inspect.signature(command, eval_str=True)
    flags = job_options(output_help=output_help, without=without)
    own_params = [p for p in own.parameters.values() if p.name != "job"]
    flag_names = {p.name for p in flags}

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> None:
        job = {name: kwargs.pop(name) for name in flag_names}
        for name in ("output", "matte"):  # an empty name is no name
            if name in job:
                job[name] = job[name] or None
        command(job=job, **kwargs)

    hints = get_type_hints(command, include_extras=True)
    hints.pop("job", None)
    hints.update({p.name: p.annotation for p in flags})
    arguments = [p for p in own_params if p.default is p.empty]
    options = [p for p in own_params if p.default is not p.empty]
    wrapper.__signature__ = own.replace(parameters=[*arguments, *flags, *options])
    wrapper.__annotations__ = hints
    return wrapper
