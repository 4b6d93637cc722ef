"""Text tool-call parsers: the PARSERS table (key == module == kind) and create_parser()."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Final

from core.registry import import_target
from core.tools.base import ToolCallParser, new_tool_call_id
from core.types import ToolSpec


def _unique_table(entries: Iterable[tuple[str, str]]) -> Mapping[str, str]:
    """A read-only table of ``entries``; a key given twice is a ValueError, not an overwrite."""
    table: dict[str, str] = {}
    for key, target in entries:
        if key in table:
            raise ValueError(f"duplicate tool-call parser kind {key!r}")
        table[key] = target
    return MappingProxyType(table)


PARSERS: Final[Mapping[str, str]] = _unique_table(
    [
        ("glm4", "core.tools.glm4:Glm4ToolCallParser"),
        ("hermes", "core.tools.hermes:HermesToolCallParser"),
        ("llama3", "core.tools.llama3:Llama3ToolCallParser"),
        ("mistral", "core.tools.mistral:MistralToolCallParser"),
        ("qwen25", "core.tools.qwen25:Qwen25ToolCallParser"),
    ]
)
"""Tool-call formats by kind → ``"module:Class"``, imported only when used."""


def parser_class(kind: str) -> type[ToolCallParser]:
    """The parser class registered under ``kind`` (ConfigError if there is none)."""
    cls: type[ToolCallParser] = import_target(PARSERS, kind, "tool-call format")
    return cls


def create_parser(
    kind: str,
    tools: tuple[ToolSpec, ...],
    new_call_id: Callable[[], str] = new_tool_call_id,
) -> ToolCallParser:
    """A new parser for one turn of a model that writes tool calls in format ``kind``.

    Raises:
        ConfigError: ``kind`` is not a key of PARSERS.
    """
    factory: Callable[[tuple[ToolSpec, ...], Callable[[], str]], ToolCallParser] = parser_class(
        kind
    )
    return factory(tools, new_call_id)
