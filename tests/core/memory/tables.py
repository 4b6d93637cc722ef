"""Raw looks at a store's database, past the store: rows per table, the erasure audit.

Every table with an `owner` column is counted, found from the database's own catalog, so a
table added later (and forgotten by erasure) shows up here without editing this file.
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import asyncpg

from core.storage.sqlite_pool import path_from_url

AUDIT = "erasures"


def _sqlite_rows(url: str, sql_per_table: str, *args: Any) -> dict[str, Any]:
    conn = sqlite3.connect(path_from_url(url))
    try:
        tables = [
            name
            for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if any(col[1] == "owner" for col in conn.execute(f'PRAGMA table_info("{name}")'))
        ]
        return {t: conn.execute(sql_per_table.format(t=t), args).fetchone()[0] for t in tables}
    finally:
        conn.close()


async def _postgres_rows(url: str, sql_per_table: str, *args: Any) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    try:
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.columns"
            " WHERE table_schema = 'public' AND column_name = 'owner'"
        )
        sql = sql_per_table.replace("?", "$1")
        return {r[0]: await conn.fetchval(sql.format(t=r[0]), *args) for r in tables}
    finally:
        await conn.close()


async def owner_rows(url: str, owner: str) -> dict[str, int]:
    """Rows of `owner` in every table that has an owner column (the audit included)."""
    sql = 'SELECT count(*) FROM "{t}" WHERE owner = ?'
    if url.startswith("sqlite"):
        return await asyncio.to_thread(_sqlite_rows, url, sql, owner)
    return await _postgres_rows(url, sql, owner)


async def audit(url: str) -> list[dict[str, Any]]:
    """The erasure audit's rows, oldest first."""
    sql = (
        "SELECT erasure_id, owner, user_hash, actor, created, counts FROM erasures ORDER BY created"
    )
    names = ("erasure_id", "owner", "user_hash", "actor", "created", "counts")
    if url.startswith("sqlite"):

        def read() -> list[Any]:
            conn = sqlite3.connect(path_from_url(url))
            try:
                return conn.execute(sql).fetchall()
            finally:
                conn.close()

        rows = await asyncio.to_thread(read)
    else:
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch(sql)
        finally:
            await conn.close()
    return [dict(zip(names, row, strict=True)) for row in rows]
