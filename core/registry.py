"""Lazy registries: tables of "module:Class" keyed by kind, imported only when a kind is used.

Backends, tool-call parsers, thread stores and knowledge stores all register this way (key ==
module name == the class's `kind`); this module is the one place that resolves a key, and
that opens a store from a database URL.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from core.errors import ConfigError

# Database URL scheme → store kind, for every store layer (one URL can serve them all).
SCHEMES: Mapping[str, str] = {"sqlite": "sqlite", "postgresql": "postgres", "postgres": "postgres"}


def import_target(table: Mapping[str, str], kind: str, what: str) -> Any:
    """The object `table[kind]` names; an unknown kind is a ConfigError listing the known ones."""
    try:
        target = table[kind]
    except KeyError:
        known = ", ".join(sorted(table))
        raise ConfigError(f"unknown {what} {kind!r}; known: {known}", kind=kind) from None
    module_name, _, name = target.partition(":")
    return getattr(importlib.import_module(module_name), name)


async def open_from_url(table: Mapping[str, str], what: str, url: str, **options: object) -> Any:
    """`await <store class>.open(url, **options)` for the store the URL's scheme selects.

    An unknown scheme or option is a ConfigError; only the scheme is echoed, since the rest
    of a URL may carry a password.
    """
    scheme = urlsplit(url).scheme.lower()
    kind = SCHEMES.get(scheme)
    if kind is None:
        raise ConfigError(
            f"unknown {what} URL scheme {scheme!r}; expected one of {sorted(SCHEMES)}"
        )
    opener = import_target(table, kind, what).open
    try:
        inspect.signature(opener).bind(url, **options)
    except TypeError:
        raise ConfigError(f"unknown option for the {kind} {what}: {sorted(options)}") from None
    return await opener(url, **options)
