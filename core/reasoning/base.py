"""The ReasoningParser protocol: a model's text → its reasoning and its answer, as it streams."""

from __future__ import annotations

from typing import ClassVar, Protocol

from core.types import ReasoningDelta, TextDelta

SplitEvent = TextDelta | ReasoningDelta


class ReasoningParser(Protocol):
    """Splits one generation's text into reasoning and answer text as the text streams in.

    One parser serves one generation (one choice). Rules, as for tool-call parsers:
    ``feed()`` returns what is certain so far, holding back only a possible tag; ``finish()``
    flushes the rest; any split of the input into pieces gives the same reasoning and text;
    work is linear in the input; model output never makes it raise.
    """

    kind: ClassVar[str]
    """The registry key, equal to the module name (``"think"`` for ``core/reasoning/think.py``)."""

    def feed(self, text: str) -> list[SplitEvent]:
        """Consume the next piece of model output; return the events now certain."""
        ...

    def finish(self) -> list[SplitEvent]:
        """End of output: return what was held back."""
        ...
