"""Reasoning parsers: the FORMATS table (key == module == kind) and create_reasoning_parser().

A model whose catalog entry names a `reasoning_format` writes its thinking inline in its text;
the format's parser splits it out as it streams, so the answer (`content`) and the thinking
(`reasoning`) reach clients, and threads, apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from core.reasoning.base import ReasoningParser
from core.registry import import_target

FORMATS: Final[Mapping[str, str]] = MappingProxyType(
    {"think": "core.reasoning.think:ThinkReasoningParser"}
)
"""Reasoning formats by kind → ``"module:Class"``, imported only when used."""


def reasoning_parser_class(kind: str) -> type[ReasoningParser]:
    """The parser class registered under ``kind`` (ConfigError if there is none)."""
    cls: type[ReasoningParser] = import_target(FORMATS, kind, "reasoning format")
    return cls


def create_reasoning_parser(kind: str) -> ReasoningParser:
    """A new parser for one generation of a model that writes reasoning in format ``kind``."""
    return reasoning_parser_class(kind)()
