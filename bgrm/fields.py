"""A frozen dataclass's fields as they arrive from JSON written elsewhere: the object's keys,
and each field's kind (true and false are no numbers, NumPy's numbers are)."""

from __future__ import annotations

import json
import numbers
from dataclasses import MISSING, fields

from bgrm.errors import UsageError, brief

WHOLE, REAL = numbers.Integral, numbers.Real  # NumPy's numbers too
NUMBER = (WHOLE, REAL)
_KIND_WORDS = {str: "text", WHOLE: "a whole number", REAL: "a number", bool: "true or false"}


def check_kinds(value: object, kinds: dict[str, tuple]) -> None:
    """UsageError unless every field of ``value`` is of one of its kinds (None: may be None);
    true and false are no numbers (JSON from elsewhere may say "overwrite": "no")."""
    for name, allowed in kinds.items():
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
