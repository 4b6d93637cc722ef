"""The tables whose rows belong to a thread, which the sweeper and erasure delete with it.

One list, so work that adds a table keyed by (owner, thread_id) — the background responses'
event log, for one — appends one entry here and is swept, erased and counted with the rest.
Rows are deleted table by table in this order, then the thread row itself; the counts the
sweeper and erasure report are keyed by `kind`. Messages and turns would also go by their
foreign keys' ON DELETE CASCADE, but an explicit delete counts them and covers tables that
have no foreign key to `threads`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")


@dataclass(frozen=True, slots=True)
class OwnedTable:
    """A table of rows keyed by (`owner_column`, `thread_column`); `kind` names its count."""

    table: str
    kind: str
    owner_column: str = "owner"
    thread_column: str = "thread_id"

    def __post_init__(self) -> None:
        # The names are spliced into SQL: constants of this module, checked once at import.
        for name in (self.table, self.owner_column, self.thread_column):
            if not _IDENTIFIER.fullmatch(name):
                raise ValueError(f"bad table or column name: {name!r}")


THREAD_TABLES: Final[tuple[OwnedTable, ...]] = (
    OwnedTable("messages", "messages"),
    OwnedTable("turns", "turns"),
)
"""Children of a thread, deleted before it (append new ones; the thread row goes last)."""

THREADS_KIND: Final = "threads"

OWNER_TABLES: Final[tuple[str, ...]] = ("spend",)
"""Tables of rows keyed by owner alone (a key's spend), deleted by a whole-owner erasure."""


def delete_owner_rows(table: str) -> str:
    """Delete an owner's rows of one of OWNER_TABLES (a checked constant, never input)."""
    if table not in OWNER_TABLES:
        raise ValueError(table)
    return f"DELETE FROM {table} WHERE owner = ?"  # noqa: S608
