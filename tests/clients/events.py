"""Reading the SDK's typed stream events in tests: their kinds in order, their text."""

from __future__ import annotations

from collections.abc import Iterable

import chatrpc

KINDS = {
    chatrpc.StreamStart: "start",
    chatrpc.MessageDelta: "delta",
    chatrpc.StreamFinish: "finish",
    chatrpc.Usage: "usage",
}


def kinds(events: Iterable[chatrpc.StreamEvent]) -> list[str]:
    return [KINDS[type(event)] for event in events]


def text(events: Iterable[chatrpc.StreamEvent]) -> str:
    return "".join(e.content for e in events if isinstance(e, chatrpc.MessageDelta))
