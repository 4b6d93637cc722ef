"""Finding fixed markers (such as ``<tool_call>``) in text that arrives in pieces.

Scanners take ``(text, pos)`` and return positions instead of slicing off the rest, so a
parser never copies the unread part of a piece: each character is looked at a bounded number
of times, whatever the split.
"""

from __future__ import annotations


def partial_marker_length(text: str, marker: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``marker`` (0 if none).

    That suffix is what a parser holds back: the next piece may complete the marker.
    """
    first = marker[0]
    i = text.find(first, max(0, len(text) - len(marker) + 1))
    while i != -1:
        if marker.startswith(text[i:]):
            return len(text) - i
        i = text.find(first, i + 1)
    return 0


def extend_match(literal: str, matched: int, text: str, pos: int) -> int:
    """Extend a match of ``literal``'s first ``matched`` characters with ``text[pos:]``.

    Returns the number of characters of ``literal`` matched afterwards; it stops at the first
    character that differs, so the result is the same however the text is split.
    """
    n = min(len(literal) - matched, len(text) - pos)
    if text.startswith(literal[matched : matched + n], pos):
        return matched + n
    i = 0
    while text[pos + i] == literal[matched + i]:
        i += 1
    return matched + i


class MarkerSplitter:
    """Splits streamed text at the first occurrence of ``marker``.

    ``feed()`` returns the text before the marker that is certain, holding back a possible
    partial marker at the end (never more than ``len(marker) - 1`` characters), and, once the
    marker is complete, the position just after it.
    """

    def __init__(self, marker: str) -> None:
        self.marker = marker
        self._held = ""

    def feed(self, text: str, pos: int) -> tuple[str, int]:
        """Scan ``text[pos:]``: (certain text before the marker, position after it or -1)."""
        marker = self.marker
        held = self._held
        if held:
            # The held part is shorter than the marker, so a marker starting inside it ends
            # within the next len(marker) - 1 characters.
            window = held + text[pos : pos + len(marker) - 1]
            i = window.find(marker)
            if 0 <= i < len(held):
                self._held = ""
                return held[:i], pos + i + len(marker) - len(held)
        i = text.find(marker, pos)
        if i != -1:
            self._held = ""
            return held + text[pos:i], i + len(marker)
        rest = held + text[pos:]  # a copy, but all of it is text the caller emits or holds
        start = max(0, len(rest) - len(marker) + 1)
        if rest.find(marker[0], start) == -1:  # the common case: nothing to hold back
            self._held = ""
            return rest, -1
        keep = partial_marker_length(rest[start:], marker)
        self._held = rest[len(rest) - keep :]
        return rest[: len(rest) - keep], -1

    def flush(self) -> str:
        """Return (and forget) the held-back partial marker."""
        held, self._held = self._held, ""
        return held
