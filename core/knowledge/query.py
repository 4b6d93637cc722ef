"""Search terms from a free-text question, and the ranking both knowledge stores share.

A question is never handed to a query parser: it is cut into plain terms here, and each store
passes them to its database as bound parameters (SQLite FTS5 phrases are quoted).

* words: runs of letters and digits in scripts written with spaces, lower-cased, 3+
  characters (SQLite's trigram index cannot match shorter ones), minus a few English stop
  words;
* grams: for each run of Chinese/Japanese characters, its overlapping 3-character grams (a
  question shares few whole phrases with the text, but often 3 characters: 几点开门 / 十点开门);
* bigrams: the same runs' overlapping 2-character grams, for the fallback (most Chinese
  words are 2 characters, which a trigram index cannot match).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from core.knowledge.base import Chunk, Hit
from core.knowledge.chunking import CJK_CHARS

MIN_WORD_CHARS: Final = 3
MAX_WORDS: Final = 32
MAX_GRAMS: Final = 64

_CJK_RUN = re.compile(f"[{CJK_CHARS}]+")
_REGEX_SPECIAL = re.compile(r"[^\w\s]")
_WORD = re.compile(f"(?:(?![{CJK_CHARS}])[^\\W_])+")

# A compact word list reads better than 41 one-item lines.
STOP_WORDS: Final = frozenset(
    (  # noqa: SIM905
        "about are and can could did does for from had has have how into its not our that the"
        " their them then there these they this those was were what when where which who whom"
        " why will with would you your"
    ).split()
)


@dataclass(frozen=True, slots=True)
class SearchTerms:
    """A question cut into terms; all empty means there is nothing to search for."""

    words: tuple[str, ...]
    grams: tuple[str, ...]
    bigrams: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.words or self.grams or self.bigrams)


def parse_query(question: str) -> SearchTerms:
    """Cut `question` into words, 3-grams and 2-grams (deduplicated, in order, capped)."""
    words = [
        word
        for word in (m.group().lower() for m in _WORD.finditer(question))
        if len(word) >= MIN_WORD_CHARS and word not in STOP_WORDS
    ]
    runs = [m.group() for m in _CJK_RUN.finditer(question)]
    grams = [run[i : i + 3] for run in runs for i in range(len(run) - 2)]
    bigrams = [run[i : i + 2] for run in runs for i in range(len(run) - 1)]
    return SearchTerms(
        words=_unique(words, MAX_WORDS),
        grams=_unique(grams, MAX_GRAMS),
        bigrams=_unique(bigrams, MAX_GRAMS),
    )


def fts5_match(terms: Sequence[str]) -> str:
    """An FTS5 MATCH expression: any of `terms`, each a quoted phrase ("" escapes ")."""
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


def regex_alternation(terms: Sequence[str]) -> str:
    """A PostgreSQL regex matching any of `terms` literally (punctuation backslash-escaped)."""
    return "|".join(_REGEX_SPECIAL.sub(r"\\\g<0>", term) for term in terms)


def rank(
    primary: Sequence[tuple[Chunk, float]], fallback: Sequence[tuple[Chunk, float]], k: int
) -> tuple[Hit, ...]:
    """Primary matches by raw relevance, then fallback matches not already there, up to k.

    Raw relevances (higher is better) are store-specific; scores are rescaled so the best
    primary hit is 1.0, primary hits are in (0.5, 1] and fallback hits in (0, 0.5], which
    keeps scores non-increasing along the result.
    """
    hits = _scaled(primary, 0.5, 0.5)
    seen = {hit.chunk.chunk_id for hit in hits}
    rest = [(chunk, raw) for chunk, raw in fallback if chunk.chunk_id not in seen]
    ceiling = 0.5 if hits else 1.0
    hits += _scaled(rest, 0.0, ceiling)
    return tuple(hits[:k])


def _scaled(matches: Sequence[tuple[Chunk, float]], floor: float, width: float) -> list[Hit]:
    ordered = sorted(matches, key=lambda match: -match[1])
    if not ordered:
        return []
    best = max(ordered[0][1], 1e-9)
    return [Hit(chunk=chunk, score=floor + width * max(raw, 1e-9) / best) for chunk, raw in ordered]


def _unique(items: Sequence[str], limit: int) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))[:limit]
