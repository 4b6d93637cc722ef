"""GLM-4 tool calls: a line with a known function name, then its JSON arguments object.

Accepted shape, after leading whitespace (which is text)::

    name "\\n" {arguments} ( whitespace+ name "\\n" {arguments} )* [rest]

``name`` must be one of the turn's tools, and the whitespace after it must hold a newline.
Whitespace between calls belongs to the calls; whitespace not followed by a call is text. The
first thing that is not a call turns the rest of the output into text, verbatim.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import ClassVar

from core.tools.base import new_tool_call_id
from core.tools.calls import canonical_arguments
from core.tools.json_span import JSON_WHITESPACE, JsonSpan, skip_whitespace
from core.tools.leading import LeadingCallsParser
from core.types import ToolSpec

_WHITESPACE = re.compile(r"[ \t\r\n]")


class Glm4ToolCallParser(LeadingCallsParser):
    """Parses GLM-4 (glm-4-9b-chat) ``name\\n{json}`` tool calls at the start of the output.

    While the output may still be a call (a prefix of a tool name, the name and the whitespace
    after it, the arguments object) it is held back; a held name is never longer than the
    longest tool name.
    """

    kind: ClassVar[str] = "glm4"
    call_syntax: ClassVar[str] = "<function name>\n{<arguments>}"

    def __init__(
        self, tools: tuple[ToolSpec, ...], new_call_id: Callable[[], str] = new_tool_call_id
    ) -> None:
        self._names = frozenset(tool.name for tool in tools)
        self._prefixes = frozenset(
            name[:k] for name in self._names for k in range(1, len(name) + 1)
        )
        super().__init__(tools, new_call_id)

    def _reset_call(self) -> None:
        super()._reset_call()
        self._name = ""
        self._name_done = False
        self._newline = False  # the whitespace after the name holds a newline

    def _scan_lead(self, text: str, pos: int) -> int:
        """Read what may come before a call's ``{``: whitespace, the name, its line break."""
        char = text[pos]
        if char in JSON_WHITESPACE:
            if self._name and not self._name_done:
                if self._name not in self._names:
                    return self._give_up(pos)
                self._name_done = True
            end = skip_whitespace(text, pos)
            if self._name_done:
                self._newline = self._newline or "\n" in text[pos:end]
            if self._lead or self._events.calls:
                self._lead.append(text[pos:end])
            else:
                self._events.text(text[pos:end])  # leading whitespace cannot start a call
            return end
        if self._name_done:
            if char == "{" and self._newline:
                self._span = JsonSpan("{")
                return pos
            return self._give_up(pos)
        return self._scan_name(text, pos)

    def _scan_name(self, text: str, pos: int) -> int:
        m = _WHITESPACE.search(text, pos)
        end = len(text) if m is None else m.start()
        self._lead.append(text[pos:end])
        self._name += text[pos:end]
        return end if self._name in self._prefixes else self._give_up(end)

    def _call(self, value: object) -> tuple[str, str] | None:
        arguments = canonical_arguments(value)
        return None if arguments is None else (self._name, arguments)
