"""A frozen dataclass's fields as they arrive from JSON written elsewhere: the object's keys,
and each field's kind, read from its type (true and false are no numbers, NumPy's numbers are);
and the one way a field says what it means (``described``)."""

from __future__ import annotations

import functools
import json
import numbers
import textwrap
import types
import typing
from collections.abc import Iterable
from dataclasses import MISSING, fields
from typing import Any

from bgrm.errors import UsageError, brief

WHOLE, REAL = numbers.Integral, numbers.Real  # NumPy's numbers too
NUMBER = (WHOLE, REAL)
_KIND_WORDS = {str: "text", WHOLE: "a whole number", REAL: "a number", bool: "true or false"}


def described(help: str, value: str | None = None) -> dict[str, str | None]:
    """A dataclass field's metadata that says what it means: its ``help`` (naming other
    parameters in backticks) and ``value``, the name of its value in a usage line (PATH, N):
    ``field(default=..., metadata=described(...))``. A field's choices are its Literal's."""
    return {"help": help, "value": value}


def document(cls: type) -> type:
    """``cls`` with a "Parameters:" section added to its docstring: each field's help."""
    cls.__doc__ = (
        (cls.__doc__ or "")
        + "\n\nParameters:\n"
        + "\n".join(
            textwrap.fill(
                f"{f.name}: {f.metadata['help']}.",
                96,
                initial_indent="    ",
                subsequent_indent=" " * 8,
            )
            for f in fields(cls)
        )
    )
    return cls


def either(names: Iterable[str]) -> str:
    """["a", "b", "c"] -> "a, b or c"."""
    *first, last = names
    return f"{', '.join(first)} or {last}" if first else last


@functools.cache
def types_of(cls: type) -> dict[str, Any]:
    """Each field's type, resolved."""
    return typing.get_type_hints(cls)


def choices_of(hint: Any) -> tuple | None:
    """The values a Literal type (or a Literal or None) allows; None for any other type."""
    for arg in alternatives(hint):
        if typing.get_origin(arg) is typing.Literal:
            return typing.get_args(arg)
    return None


@functools.cache
def kinds_of(cls: type) -> dict[str, tuple]:
    """Each field's kinds, from its type: text (a str or a Literal of str), a whole number
    (int), a number (float), true or false (bool), None."""
    kinds = {}
    for name, hint in types_of(cls).items():
        allowed: list = []
        for arg in alternatives(hint):
            if arg is type(None):
                allowed.append(None)
            elif arg is str or typing.get_origin(arg) is typing.Literal:
                allowed.append(str)
            elif arg is bool:
                allowed.append(bool)
            elif arg is int:
                allowed.append(WHOLE)
            elif arg is float:
                allowed += NUMBER
            else:
                raise TypeError(f"no JSON kind for {arg} (field {name} of {cls.__name__})")
        kinds[name] = tuple(dict.fromkeys(allowed))
    return kinds


def alternatives(hint: Any) -> tuple:
    """The types of a union, or the one type."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return typing.get_args(hint)
    return (hint,)


def check_kinds(value: object) -> None:
    """UsageError unless every field of the dataclass ``value`` is of one of its kinds (None:
    may be None); true and false are no numbers (JSON from elsewhere may say "overwrite":
    "no")."""
    for name, allowed in kinds_of(type(value)).items():
        field = getattr(value, name)
        if field is None and None in allowed:
            continue
        if isinstance(field, bool) == (bool in allowed) and isinstance(
            field, tuple(kind for kind in allowed if kind is not None)
        ):
            continue
        words = [_KIND_WORDS[kind] for kind in allowed if kind in _KIND_WORDS]
        if REAL in allowed:
            words.remove(_KIND_WORDS[WHOLE])
        words += ["null"] if None in allowed else []
        raise UsageError(f"`{name}` must be {' or '.join(words)}, got {brief(field)}")


def check_choices(value: object) -> None:
    """UsageError unless every field of ``value`` typed with a Literal holds one of its values
    (or None, where it may be None)."""
    for name, hint in types_of(type(value)).items():
        choices, given = choices_of(hint), getattr(value, name)
        if choices is not None and given is not None and given not in choices:
            raise UsageError(f"`{name}` must be one of {', '.join(choices)}, got {brief(given)}")


def fields_from_json(cls: type, text: object, what: str) -> dict:
    """The fields of a ``cls`` in JSON ``text``: an object with known keys and every field
    that has no default; UsageError naming ``what`` otherwise."""
    if not isinstance(text, str | bytes):
        raise UsageError(f"a {what} must be JSON text, got {brief(text)}")
    try:
        data = json.loads(text)
    except ValueError:
        raise UsageError(f"a {what} must be JSON, got {brief(text)}") from None
    if not isinstance(data, dict):
        raise UsageError(f"a {what} must be a JSON object, got {brief(data)}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UsageError(f"unknown {what} parameters: {', '.join(map(_plain, unknown))}")
    needed = [f.name for f in fields(cls) if f.default is MISSING and f.name not in data]
    if needed:
        raise UsageError(f"a {what} needs {', '.join(needed)}")
    return data


def _plain(name: str) -> str:
    """A JSON key shown cut short."""
    return name if len(name) <= 40 else name[:37] + "..."
