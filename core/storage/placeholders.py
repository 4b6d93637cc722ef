"""`?` placeholders → PostgreSQL's `$1, $2, …`, so a statement can be written once for both
dialects (the stores that do: core.memory's retention SQL, core.keys)."""

from __future__ import annotations

import re

_PLACEHOLDER = re.compile(r"\?")


def numbered(sql: str) -> str:
    """`?` placeholders as PostgreSQL's `$1, $2, …` (the statements hold no literal `?`)."""
    counter = iter(range(1, 10_000))
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)
