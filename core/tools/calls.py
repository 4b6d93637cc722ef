"""What counts as a tool call, and the one canonical text of its arguments.

Arguments are re-serialised as ``json.dumps(arguments, ensure_ascii=False,
separators=(",", ":"))``: compact like OpenAI's own ``arguments`` strings, non-ASCII kept as
is, keys in the order the model wrote them.
"""

from __future__ import annotations

import json
from typing import Any


def canonical_arguments(value: Any) -> str | None:
    """The canonical JSON text of an arguments object, or None if ``value`` is not an object."""
    if not isinstance(value, dict):
        return None
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except (ValueError, RecursionError):
        return None


def call_from_json(value: Any, argument_keys: tuple[str, ...]) -> tuple[str, str] | None:
    """(name, canonical arguments) of a call object, or None if ``value`` is not one.

    A call object is a JSON object with a non-empty string ``name`` and, under the first of
    ``argument_keys`` it has, an arguments object. Other members (such as an ``id`` the model
    made up) are ignored; a missing arguments member makes it no call.
    """
    if not isinstance(value, dict):
        return None
    name = value.get("name")
    if not isinstance(name, str) or not name:
        return None
    for key in argument_keys:
        if key in value:
            arguments = canonical_arguments(value[key])
            return None if arguments is None else (name, arguments)
    return None
