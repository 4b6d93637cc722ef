"""`<think>…</think>` reasoning (Qwen3, DeepSeek-R1, SmolLM3 and their distillations).

The reasoning is the text between a `<think>` that opens the output (after optional
whitespace) and the next `</think>`; the answer is what follows, its leading whitespace
dropped. Output that does not open with `<think>` is all answer. A `<think>` never closed
(the reply hit its token limit while thinking) leaves all of it reasoning: streamed text
cannot be taken back, so a stream and its fold agree. Tags split across pieces are held back
until they are certain; no more than a tag's length is ever held.
"""

from __future__ import annotations

import enum
from typing import ClassVar

from core.reasoning.base import SplitEvent
from core.types import ReasoningDelta, TextDelta

OPEN, CLOSE = "<think>", "</think>"


class _State(enum.Enum):
    START = "start"  # nothing but whitespace yet: the output may still open with <think>
    THINKING = "thinking"
    AFTER = "after"  # just closed: leading whitespace of the answer is dropped
    ANSWER = "answer"


class ThinkReasoningParser:
    """Splits `<think>…</think>` off the start of a model's output."""

    kind: ClassVar[str] = "think"

    def __init__(self) -> None:
        self._state = _State.START
        self._held = ""

    def feed(self, text: str) -> list[SplitEvent]:
        if self._state is _State.ANSWER:
            return [TextDelta(text)] if text else []
        events: list[SplitEvent] = []
        text = self._held + text
        self._held = ""
        if self._state is _State.START:
            text = self._start(text)
        if self._state is _State.THINKING:
            text = self._thinking(text, events)
        if self._state is _State.AFTER:
            text = text.lstrip()
            if text:
                self._state = _State.ANSWER
        if self._state is _State.ANSWER and text:
            events.append(TextDelta(text))
        return events

    def finish(self) -> list[SplitEvent]:
        held, self._held = self._held, ""
        if not held:
            return []
        if self._state is _State.THINKING:
            return [ReasoningDelta(held)]
        return [TextDelta(held)]  # START: whitespace, or a beginning of "<think>" that stopped

    def _start(self, text: str) -> str:
        """Decides whether the output opens with <think>; returns the text after the decision."""
        body = text.lstrip()
        if body.startswith(OPEN):
            self._state = _State.THINKING
            return body[len(OPEN) :]
        if OPEN.startswith(body):  # whitespace so far, or a tag still arriving
            self._held = text
            return ""
        self._state = _State.ANSWER
        return text

    def _thinking(self, text: str, events: list[SplitEvent]) -> str:
        """Emits reasoning up to </think> (holding a possible partial tag); returns the rest."""
        end = text.find(CLOSE)
        if end >= 0:
            if end:
                events.append(ReasoningDelta(text[:end]))
            self._state = _State.AFTER
            return text[end + len(CLOSE) :]
        keep = _partial_tag(text)
        if len(text) > keep:
            events.append(ReasoningDelta(text[: len(text) - keep]))
        self._held = text[len(text) - keep :] if keep else ""
        return ""


def _partial_tag(text: str) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of </think>."""
    for size in range(min(len(text), len(CLOSE) - 1), 0, -1):
        if CLOSE.startswith(text[-size:]):
            return size
    return 0
