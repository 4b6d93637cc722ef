"""The ToolCallParser protocol every text tool-call format implements, and tool-call ids."""

from __future__ import annotations

import secrets
from typing import ClassVar, Protocol

from core.types import TextDelta, ToolCallDelta

ParseEvent = TextDelta | ToolCallDelta

_ID_LENGTH = 24


def new_tool_call_id() -> str:
    """A fresh OpenAI-style tool-call id: ``call_`` followed by 24 random alphanumerics."""
    return "call_" + secrets.token_hex(_ID_LENGTH // 2)  # 24 hex digits, 96 random bits


class ToolCallParser(Protocol):
    """Turns a model's text output into text and tool-call events, as the text streams in.

    One parser serves one turn. Implementations are constructed as
    ``Parser(tools: tuple[ToolSpec, ...], new_call_id: Callable[[], str])`` (see
    ``core.tools.create_parser``) and follow these rules:

    * ``feed()`` returns the events that are certain so far. Text is emitted at once unless it
      may begin a call; only that possible start is held back.
    * A call is emitted only once it is complete and valid, as two deltas:
      ``ToolCallDelta(index, id=new_call_id(), name=name)`` then
      ``ToolCallDelta(index, arguments=...)``. Indexes count 0, 1, 2, … per parser. The
      arguments are re-serialised in one canonical form (see ``core.tools.calls``).
    * Output that is not a valid call (bad JSON, no name, arguments that are not an object, a
      call still open at ``finish()``) is text: the original characters, verbatim. Parsing
      never raises on model output and never drops a character: the text emitted plus the raw
      text of the recognised calls is the whole input.
    * ``finish()`` flushes whatever is held back. Non-streaming parsing is
      ``feed(whole_text) + finish()``, and any split of the input into ``feed()`` pieces folds
      to the same text and calls.
    * Work is linear in the input: each character is scanned a bounded number of times.
    """

    kind: ClassVar[str]
    """The registry key, equal to the module name (``"hermes"`` for ``core/tools/hermes.py``)."""
    call_syntax: ClassVar[str]
    """How the format writes one call, for the instructions that teach a model to call tools."""

    def feed(self, text: str) -> list[ParseEvent]:
        """Consume the next piece of model output; return the events now certain."""
        ...

    def finish(self) -> list[ParseEvent]:
        """End of output: return the remaining events (held-back text, unclosed calls as text)."""
        ...
