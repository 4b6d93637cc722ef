"""Lazy registries: tables of "module:Class" keyed by kind, imported only when a kind is used.

Backends, tool-call parsers, thread stores and knowledge stores all register this way (key ==
module name == the class's `kind`); this module is the one place that resolves a key.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from core.errors import ConfigError


def import_target(table: Mapping[str, str], kind: str, what: str) -> Any:
    """The object `table[kind]` names; an unknown kind is a ConfigError listing the known ones."""
    try:
        target = table[kind]
    except KeyError:
        known = ", ".join(sorted(table))
        raise ConfigError(f"unknown {what} {kind!r}; known: {known}", kind=kind) from None
    module_name, _, name = target.partition(":")
    return getattr(importlib.import_module(module_name), name)
