"""SqliteKnowledgeStore: knowledge spaces in one SQLite file, searched with FTS5 trigrams.

Chunk text is indexed by an FTS5 table with the trigram tokenizer (SQLite 3.34+), which matches any
3+ character substring, so Chinese text with no spaces is searchable. As in core.memory.sqlite, each
operation runs whole inside one worker thread on a pooled connection (core.storage.sqlite_pool:
WAL), and writes take the write lock up front (`BEGIN IMMEDIATE`). The FTS index spans all owners;
matches are filtered to the owner's space, so bm25's statistics are database-wide.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import ClassVar

from core.errors import ConfigError, ConflictError, NotFoundError
from core.knowledge import base, rows as columns
from core.knowledge.query import SearchTerms, fts5_match, parse_query, rank
from core.knowledge.rows import KnowledgeTables
from core.storage.schema import transaction
from core.storage.sqlite_pool import SqliteBackedStore

MIN_SQLITE = (3, 34, 0)

_SPACE_COLUMNS = (
    "SELECT s.space_id, s.name, s.description, s.created,"
    " (SELECT count(*) FROM knowledge_documents d"
    "  WHERE d.owner = s.owner AND d.space_id = s.space_id)"
    " FROM knowledge_spaces s"
)
_SELECT_SPACE = _SPACE_COLUMNS + " WHERE s.owner = ? AND s.space_id = ?"
_LIST_SPACES = _SPACE_COLUMNS + " WHERE s.owner = ? ORDER BY s.space_id"
_SPACE_EXISTS = "SELECT 1 FROM knowledge_spaces WHERE owner = ? AND space_id = ?"
_INSERT_SPACE = (
    "INSERT INTO knowledge_spaces (owner, space_id, name, description, created)"
    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (owner, space_id) DO NOTHING"
)
_DELETE_SPACE = "DELETE FROM knowledge_spaces WHERE owner = ? AND space_id = ?"
_DELETE_SOURCE = "DELETE FROM knowledge_documents WHERE owner = ? AND space_id = ? AND source = ?"
_INSERT_DOCUMENT = (
    "INSERT INTO knowledge_documents"
    " (owner, document_id, space_id, source, title, created, chunk_count)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_CHUNK = (
    "INSERT INTO knowledge_chunks (owner, space_id, document_id, ordinal, text)"
    " VALUES (?, ?, ?, ?, ?)"
)
_LIST_DOCUMENTS = (
    "SELECT document_id, space_id, source, title, created, chunk_count"
    " FROM knowledge_documents WHERE owner = ? AND space_id = ? ORDER BY source"
)
# Chunks matching any quoted term, best bm25 first (bm25 is lower for better matches).
_SEARCH_INDEX = (
    "SELECT c.id, c.document_id, d.source, d.title, c.ordinal, c.text,"
    " -bm25(knowledge_chunks_fts)"
    " FROM knowledge_chunks_fts"
    " JOIN knowledge_chunks c ON c.id = knowledge_chunks_fts.rowid"
    " JOIN knowledge_documents d ON d.owner = c.owner AND d.document_id = c.document_id"
    " WHERE knowledge_chunks_fts MATCH ? AND c.owner = ? AND c.space_id = ?"
    " ORDER BY bm25(knowledge_chunks_fts), c.id LIMIT ?"
)
# The fallback: chunks of the space containing the most of the given strings (a JSON array).
_SEARCH_SUBSTRINGS = (
    "SELECT * FROM ("
    " SELECT c.id, c.document_id, d.source, d.title, c.ordinal, c.text,"
    "  (SELECT count(*) FROM json_each(?) AS p WHERE instr(c.text, p.value) > 0) AS hits"
    " FROM knowledge_chunks c"
    " JOIN knowledge_documents d ON d.owner = c.owner AND d.document_id = c.document_id"
    " WHERE c.owner = ? AND c.space_id = ?"
    ") WHERE hits > 0 ORDER BY hits DESC, id LIMIT ?"
)


def check_fts5_trigram(conn: sqlite3.Connection) -> None:
    """Raise ConfigError unless this SQLite has FTS5 with the trigram tokenizer."""
    problem = f"SQLite {sqlite3.sqlite_version} lacks FTS5 with the trigram tokenizer"
    hint = "; knowledge search needs SQLite 3.34+ built with FTS5, or a PostgreSQL database URL"
    if sqlite3.sqlite_version_info < MIN_SQLITE:
        raise ConfigError(problem + hint)
    try:
        conn.execute("CREATE VIRTUAL TABLE temp.knowledge_probe USING fts5(x, tokenize='trigram')")
        conn.execute("DROP TABLE temp.knowledge_probe")
    except sqlite3.OperationalError:
        raise ConfigError(problem + hint) from None


def _create_space(
    conn: sqlite3.Connection, owner: str, space_id: str, name: str, description: str
) -> base.Space:
    now = time.time()
    with transaction(conn):
        cursor = conn.execute(_INSERT_SPACE, (owner, space_id, name, description, now))
        if cursor.rowcount != 1:
            raise ConflictError("knowledge space already exists")
    return base.Space(
        space_id=space_id, name=name, description=description, created=now, document_count=0
    )


def _get_space(conn: sqlite3.Connection, owner: str, space_id: str) -> base.Space:
    row = conn.execute(_SELECT_SPACE, (owner, space_id)).fetchone()
    if row is None:
        raise NotFoundError("knowledge space not found")
    return columns.row_to_space(row)


def _list_spaces(conn: sqlite3.Connection, owner: str) -> tuple[base.Space, ...]:
    return tuple(columns.row_to_space(row) for row in conn.execute(_LIST_SPACES, (owner,)))


def _delete_space(conn: sqlite3.Connection, owner: str, space_id: str) -> None:
    # Documents and chunks go with the space (ON DELETE CASCADE); triggers unindex the chunks.
    with transaction(conn):
        if conn.execute(_DELETE_SPACE, (owner, space_id)).rowcount != 1:
            raise NotFoundError("knowledge space not found")


def _erase_owner(conn: sqlite3.Connection, owner: str) -> dict[str, int]:
    # Children first, so each count is that table's own rows (not hidden by a cascade).
    with transaction(conn):
        return {
            table: conn.execute(base.erase_statement(table, "?"), (owner,)).rowcount
            for table in base.ERASED_TABLES
        }


def _require_space(conn: sqlite3.Connection, owner: str, space_id: str) -> None:
    if conn.execute(_SPACE_EXISTS, (owner, space_id)).fetchone() is None:
        raise NotFoundError("knowledge space not found")


def _add_document(
    conn: sqlite3.Connection, owner: str, space_id: str, source: str, text: str, title: str
) -> base.Document:
    new = columns.new_document(space_id, source, text, title)
    with transaction(conn):
        _require_space(conn, owner, space_id)
        conn.execute(_DELETE_SOURCE, (owner, space_id, source))
        conn.execute(_INSERT_DOCUMENT, columns.document_to_params(owner, new.document))
        conn.executemany(_INSERT_CHUNK, columns.chunk_params(owner, new))
    return new.document


def _list_documents(
    conn: sqlite3.Connection, owner: str, space_id: str
) -> tuple[base.Document, ...]:
    with transaction(conn, "DEFERRED"):
        _require_space(conn, owner, space_id)
        rows = conn.execute(_LIST_DOCUMENTS, (owner, space_id)).fetchall()
    return tuple(columns.row_to_document(row) for row in rows)


def _search(
    conn: sqlite3.Connection, owner: str, space_id: str, terms: SearchTerms, k: int
) -> tuple[base.Hit, ...]:
    primary, fallback = [], []
    with transaction(conn, "DEFERRED"):
        _require_space(conn, owner, space_id)
        # Words are 3+ characters and grams exactly 3: every term can match a trigram index.
        indexed = [*terms.words, *terms.grams]
        if indexed:
            params = (fts5_match(indexed), owner, space_id, k)
            primary = [columns.row_to_match(row) for row in conn.execute(_SEARCH_INDEX, params)]
        if len(primary) < k and terms.bigrams:
            strings = json.dumps(terms.bigrams, ensure_ascii=False)
            params2 = (strings, owner, space_id, k + len(primary))
            fallback = [
                columns.row_to_match(row) for row in conn.execute(_SEARCH_SUBSTRINGS, params2)
            ]
    return rank(primary, fallback, k)


class SqliteKnowledgeStore(KnowledgeTables, SqliteBackedStore):
    """KnowledgeStore on one SQLite file; see the module docstring.

    Open with `await SqliteKnowledgeStore.open(url)` (or core.knowledge.open_knowledge); the URL and
    options are core.memory.sqlite.SqliteStore's (core.storage.sqlite_pool.SqliteBackedStore:
    `busy_timeout_ms`, `pool_size`), and the file may be the one thread memory uses. A SQLite
    without FTS5 trigrams raises ConfigError at open.
    """

    kind: ClassVar[str] = "sqlite"

    thread_name_prefix: ClassVar[str] = "sqlite-knowledge"

    @classmethod
    def setup(cls, conn: sqlite3.Connection) -> None:
        check_fts5_trigram(conn)
        super().setup(conn)

    async def create_space(
        self, owner: str, space_id: str, name: str = "", description: str = ""
    ) -> base.Space:
        base.check_new_space(owner, space_id, name, description)
        return await self._pool.run(_create_space, owner, space_id, name, description)

    async def get_space(self, owner: str, space_id: str) -> base.Space:
        base.check_space_args(owner, space_id)
        return await self._pool.run(_get_space, owner, space_id)

    async def list_spaces(self, owner: str) -> tuple[base.Space, ...]:
        base.require_owner(owner)
        return await self._pool.run(_list_spaces, owner)

    async def delete_space(self, owner: str, space_id: str) -> None:
        base.check_space_args(owner, space_id)
        await self._pool.run(_delete_space, owner, space_id)

    async def erase_owner(self, owner: str) -> dict[str, int]:
        base.require_owner(owner)
        return await self._pool.run(_erase_owner, owner)

    async def add_document(
        self, owner: str, space_id: str, source: str, text: str, title: str = ""
    ) -> base.Document:
        base.check_document(owner, space_id, source, text, title)
        return await self._pool.run(_add_document, owner, space_id, source, text, title)

    async def list_documents(self, owner: str, space_id: str) -> tuple[base.Document, ...]:
        base.check_space_args(owner, space_id)
        return await self._pool.run(_list_documents, owner, space_id)

    async def search(
        self, owner: str, space_id: str, query: str, k: int = 4
    ) -> tuple[base.Hit, ...]:
        base.check_search(owner, space_id, k)
        return await self._pool.run(_search, owner, space_id, parse_query(query), k)
