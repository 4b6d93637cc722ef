"""Chunking: split Markdown or plain text into overlapping chunks of at most `max_chars`.

Boundaries are preferred in this order: Markdown ATX headings (outside code fences; a chunk
never spans two sections), paragraphs (blank lines), sentences and lines (`. ! ? ;` before
whitespace, their full-width Chinese forms anywhere, newlines), words (whitespace), and only
then a hard cut. Each chunk is a contiguous slice of the text, stripped of surrounding
whitespace. When a section needs several chunks, each one after the first starts up to
`overlap` characters before the previous one ended, at a sentence or word boundary (Chinese
and Japanese text breaks anywhere).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import pairwise

Span = tuple[int, int]

MAX_TITLE_CHARS = 200

_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r" {0,3}#{1,6}(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*")
# Kana and CJK ideographs: scripts written without spaces between words.
CJK_CHARS = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_CJK = re.compile(f"[{CJK_CHARS}]")
# Full-width full stop, exclamation and question marks and semicolon: no space follows them.
_CJK_ENDS = "\u3002\uff01\uff1f\uff1b"
_SENTENCE_ENDS = frozenset(".!?;" + _CJK_ENDS)

# Each level's pattern matches a separator; a piece boundary falls at the match's end, so the
# separator stays with the text before it.
_LEVELS = (
    re.compile(r"\n[ \t]*\n\s*"),  # paragraphs
    re.compile(  # sentences, lines
        "[.!?;]+[\"')\\]\u201d\u2019]*\\s+"
        f"|[{_CJK_ENDS}]+[\u201d\u2019\u300d\u300f\uff09)\\]]*\\s*"
        "|\n\\s*"
    ),
    re.compile(r"\s+"),  # words
)


def chunk_text(text: str, *, max_chars: int = 800, overlap: int = 100) -> list[str]:
    """Split `text` into chunks of at most `max_chars` characters; see the module docstring.

    Every non-whitespace character of `text` is in some chunk, in order. Raises ValueError
    unless 1 <= max_chars and 0 <= overlap < max_chars.
    """
    return [text[start:end] for start, end in chunk_spans(text, max_chars, overlap)]


def chunk_spans(text: str, max_chars: int, overlap: int) -> list[Span]:
    """The [start, end) offsets of chunk_text's chunks in `text`."""
    if max_chars < 1 or not 0 <= overlap < max_chars:
        raise ValueError("chunking needs max_chars >= 1 and 0 <= overlap < max_chars")
    spans: list[Span] = []
    for start, end in _sections(text):
        pieces = _split(text, start, end, 0, max_chars)
        spans.extend(_pack(text, pieces, max_chars, overlap))
    stripped = (_strip(text, start, end) for start, end in spans)
    return [(start, end) for start, end in stripped if start < end]


def title_of(text: str, source: str) -> str:
    """The text of the first Markdown heading, else the file name at the end of `source`."""
    for _, line in _lines_outside_fences(text):
        match = _HEADING.fullmatch(line)
        if match is not None and (match.group(1) or "").strip():
            return match.group(1).strip()[:MAX_TITLE_CHARS]
    name = source.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return (name or source)[:MAX_TITLE_CHARS]


def _lines_outside_fences(text: str) -> Iterator[tuple[int, str]]:
    """(offset, line) for each line not inside a fenced code block; fence lines excluded."""
    fence = ""
    offset = 0
    for line in text.splitlines(keepends=True):
        start, offset = offset, offset + len(line)
        bare = line.rstrip("\r\n")
        match = _FENCE.match(bare)
        if match is not None:
            marker = match.group(1)
            if not fence:
                fence = marker
            elif marker[0] == fence[0] and len(marker) >= len(fence) and not bare.strip(marker[0]):
                fence = ""
            continue
        if not fence:
            yield start, bare


def _sections(text: str) -> list[Span]:
    """Spans from one heading to the next; a bare heading joins the section after it."""
    heads = {
        start for start, line in _lines_outside_fences(text) if _HEADING.fullmatch(line) is not None
    }
    sections: list[Span] = []
    pending = -1  # start of a bare heading waiting for the next section
    for start, end in pairwise(sorted({0, *heads, len(text)})):
        bare = start in heads and "\n" not in text[start:end].strip() and end < len(text)
        if pending >= 0:
            start, pending = pending, -1
        if bare:
            pending = start
        elif start < end:
            sections.append((start, end))
    return sections


def _stripped_len(text: str, start: int, end: int) -> int:
    return len(text[start:end].strip())


def _strip(text: str, start: int, end: int) -> Span:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _split(text: str, start: int, end: int, level: int, max_chars: int) -> list[Span]:
    """Contiguous pieces covering [start, end), each at most max_chars once stripped."""
    if _stripped_len(text, start, end) <= max_chars:
        return [(start, end)]
    if level == len(_LEVELS):
        return [(pos, min(pos + max_chars, end)) for pos in range(start, end, max_chars)]
    cuts = [m.end() for m in _LEVELS[level].finditer(text, start, end) if start < m.end() < end]
    pieces: list[Span] = []
    for piece_start, piece_end in pairwise([start, *cuts, end]):
        pieces.extend(_split(text, piece_start, piece_end, level + 1, max_chars))
    return pieces


def _pack(text: str, pieces: list[Span], max_chars: int, overlap: int) -> list[Span]:
    """Merge consecutive pieces into chunks of at most max_chars, overlapping when split."""
    chunks: list[Span] = []
    start, end = pieces[0]
    for _, piece_end in pieces[1:]:
        if _stripped_len(text, start, piece_end) <= max_chars:
            end = piece_end
            continue
        chunks.append((start, end))
        start = _overlap_start(text, start, end, piece_end, max_chars, overlap)
        end = piece_end
    chunks.append((start, end))
    return chunks


def _overlap_start(
    text: str, chunk_start: int, chunk_end: int, piece_end: int, max_chars: int, overlap: int
) -> int:
    """Where the chunk after [chunk_start, chunk_end) starts so it repeats that chunk's tail.

    The earliest sentence start in the last `overlap` characters, else the earliest word
    start, such that the new chunk (through piece_end) still fits; chunk_end if none does.
    """
    low = max(chunk_start + 1, chunk_end - overlap)
    for is_boundary in (_starts_sentence, _starts_word):
        for pos in range(low, chunk_end):
            if is_boundary(text, pos) and _stripped_len(text, pos, piece_end) <= max_chars:
                return pos
    return chunk_end


def _starts_sentence(text: str, pos: int) -> bool:
    """True at the first character after `. ! ? ;` and whitespace, or after full-width ends."""
    if text[pos].isspace():
        return False
    end = pos - 1
    while end >= 0 and text[end].isspace():
        end -= 1
    if end < 0:
        return False
    spaced = end < pos - 1
    return text[end] in _CJK_ENDS or (spaced and text[end] in _SENTENCE_ENDS)


def _starts_word(text: str, pos: int) -> bool:
    prev, char = text[pos - 1], text[pos]
    if char.isspace():
        return False
    return prev.isspace() or _CJK.match(char) is not None or _CJK.match(prev) is not None
