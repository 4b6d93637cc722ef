"""Append-only, named schema migrations (llm pattern) and the runner both persistence layers use.

A layer (thread memory, knowledge) describes its schema as a `Schema`: its own migration list,
its own tracking table and its own PostgreSQL advisory-lock key, so layers can share one SQLite
file or one PostgreSQL database and still migrate independently. Each migration carries its
SQLite and its PostgreSQL statements, so dialect differences live in the migration, not in the
stores. Stores apply the pending migrations at open, in one transaction, under a lock (SQLite
`BEGIN IMMEDIATE`, PostgreSQL advisory lock), so concurrent openers apply each exactly once.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

_NAME = re.compile(r"m(\d{3})_[a-z0-9_]+")
_TABLE = re.compile(r"_[a-z_]+")


@contextmanager
def transaction(conn: sqlite3.Connection, mode: str = "IMMEDIATE") -> Iterator[None]:
    """BEGIN IMMEDIATE (take the write lock up front) or DEFERRED … COMMIT, or ROLLBACK."""
    conn.execute("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN DEFERRED")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: its name and the statements that perform it in each dialect."""

    name: str
    sqlite: tuple[str, ...]
    postgres: tuple[str, ...]


def check_migrations(migrations: tuple[Migration, ...]) -> None:
    """Raise ValueError unless names are well-formed, unique and numbered in increasing order.

    Gaps are allowed: numbers are handed out to changes developed side by side, and one may
    land before a lower number does (migrations are applied by name, so the lower one still
    runs when it lands)."""
    previous = 0
    for position, migration in enumerate(migrations, start=1):
        match = _NAME.fullmatch(migration.name)
        if match is None or int(match.group(1)) <= previous:
            raise ValueError(f"migration #{position} is misnamed: {migration.name!r}")
        previous = int(match.group(1))
        if not migration.sqlite or not migration.postgres:
            raise ValueError(f"migration {migration.name} lacks a dialect")


@dataclass(frozen=True, slots=True)
class Schema:
    """A layer's migrations, the table that records them and its advisory-lock key.

    `label` names the migrations in the log ("migration", "knowledge migration"). Building a
    Schema checks the list (ValueError), so a misnamed migration fails at import.
    """

    migrations: tuple[Migration, ...]
    table: str
    postgres_lock_key: int
    label: str

    def __post_init__(self) -> None:
        check_migrations(self.migrations)
        if not _TABLE.fullmatch(self.table):
            raise ValueError(f"bad migrations table name: {self.table!r}")

    # The statements below splice the table name: a checked constant of the layer, never input.

    @property
    def create_table(self) -> str:
        """The tracking table's DDL; valid in both dialects (SQLite: DOUBLE PRECISION is REAL)."""
        return (
            f"CREATE TABLE IF NOT EXISTS {self.table}"
            " (name TEXT PRIMARY KEY, applied DOUBLE PRECISION NOT NULL)"
        )

    @property
    def select_applied(self) -> str:
        return f"SELECT name FROM {self.table}"  # noqa: S608

    @property
    def record_sqlite(self) -> str:
        return f"INSERT INTO {self.table} (name, applied) VALUES (?, ?)"  # noqa: S608

    @property
    def record_postgres(self) -> str:
        return f"INSERT INTO {self.table} (name, applied) VALUES ($1, $2)"  # noqa: S608

    def pending(self, applied: Collection[str]) -> tuple[Migration, ...]:
        """The migrations not yet recorded in the tracking table, in order."""
        return tuple(m for m in self.migrations if m.name not in applied)

    def apply_sqlite(self, conn: sqlite3.Connection) -> None:
        """Apply the pending migrations in one write transaction (`BEGIN IMMEDIATE`)."""
        with transaction(conn):
            conn.execute(self.create_table)
            applied = {name for (name,) in conn.execute(self.select_applied)}
            for migration in self.pending(applied):
                for statement in migration.sqlite:
                    conn.execute(statement)
                conn.execute(self.record_sqlite, (migration.name, time.time()))
                logger.info("Applied SQLite %s %s", self.label, migration.name)

    async def apply_postgres(self, conn: Any) -> None:
        """Apply the pending migrations on `conn`, an asyncpg connection inside a transaction."""
        # Serialises concurrent openers (replicas starting together) until commit.
        await conn.execute("SELECT pg_advisory_xact_lock($1)", self.postgres_lock_key)
        await conn.execute(self.create_table)
        applied = {r["name"] for r in await conn.fetch(self.select_applied)}
        for migration in self.pending(applied):
            for statement in migration.postgres:
                await conn.execute(statement)
            await conn.execute(self.record_postgres, migration.name, time.time())
            logger.info("Applied PostgreSQL %s %s", self.label, migration.name)
