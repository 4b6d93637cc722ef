"""PostgresKnowledgeStore: knowledge spaces in PostgreSQL through an asyncpg connection pool.

Search combines two matchers over the space's chunks (see core.knowledge.query for the terms):

* words go to PostgreSQL full-text search: a generated `to_tsvector('simple', text)` column
  under a GIN index, queried with `websearch_to_tsquery('simple', 'w1 or w2 …')` (never a
  syntax error) and ranked with `ts_rank`. 'simple' lower-cases but neither stems nor drops
  stop words, so words match whole words only ("open" does not find "opens").
* Chinese/Japanese 3-grams, which 'simple' cannot split out of unspaced text, are matched
  as substrings (a regex alternation `g1|g2|…` selects chunks; each gram found adds 1 to the
  relevance). When the pg_trgm extension could be created (migration m003), its GIN index
  lets the planner serve that regex from the index in big spaces (in a database whose
  LC_CTYPE is not plain "C", which pg_trgm needs to see CJK characters as letters); without
  it, PostgreSQL filters the space's chunks (same results).

If fewer than k chunks matched, chunks containing the question's 2-grams follow (strpos, no
index), as in the SQLite store. Writes to one space are serialised by locking its row, so
re-adding a source from two replicas at once leaves exactly one version. Every value is a
bound parameter.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, ClassVar

from core.errors import ConflictError, NotFoundError
from core.knowledge import base, migrations, rows as columns
from core.knowledge.query import SearchTerms, parse_query, rank, regex_alternation
from core.knowledge.rows import KnowledgeTables
from core.storage.postgres_pool import PostgresBackedStore

logger = logging.getLogger(__name__)

_SPACE_COLUMNS = (
    "SELECT s.space_id, s.name, s.description, s.created,"
    " (SELECT count(*) FROM knowledge_documents d"
    "  WHERE d.owner = s.owner AND d.space_id = s.space_id)"
    " FROM knowledge_spaces s"
)
_SELECT_SPACE = _SPACE_COLUMNS + " WHERE s.owner = $1 AND s.space_id = $2"
_LIST_SPACES = _SPACE_COLUMNS + " WHERE s.owner = $1 ORDER BY s.space_id"
_SPACE_EXISTS = "SELECT 1 FROM knowledge_spaces WHERE owner = $1 AND space_id = $2"
# Serialises document writes to one space (and waits out a concurrent delete of it).
_LOCK_SPACE = _SPACE_EXISTS + " FOR NO KEY UPDATE"
_INSERT_SPACE = (
    "INSERT INTO knowledge_spaces (owner, space_id, name, description, created)"
    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (owner, space_id) DO NOTHING RETURNING 1"
)
_DELETE_SPACE = "DELETE FROM knowledge_spaces WHERE owner = $1 AND space_id = $2 RETURNING 1"
_DELETE_SOURCE = (
    "DELETE FROM knowledge_documents WHERE owner = $1 AND space_id = $2 AND source = $3"
)
_INSERT_DOCUMENT = (
    "INSERT INTO knowledge_documents"
    " (owner, document_id, space_id, source, title, created, chunk_count)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7)"
)
_INSERT_CHUNK = (
    "INSERT INTO knowledge_chunks (owner, space_id, document_id, ordinal, text)"
    " VALUES ($1, $2, $3, $4, $5)"
)
_LIST_DOCUMENTS = (
    "SELECT document_id, space_id, source, title, created, chunk_count"
    " FROM knowledge_documents WHERE owner = $1 AND space_id = $2 ORDER BY source"
)
# $3: words joined by " or " ('' for none); $4: the 3-grams; $5: the 3-grams as one regex
# alternation (NULL for none), a form a pg_trgm GIN index can serve (unlike `= ANY`).
_SEARCH_INDEX = (
    "SELECT c.id, c.document_id, d.source, d.title, c.ordinal, c.text,"
    " coalesce(ts_rank(c.tsv, q.tsq), 0)"
    "  + (SELECT count(*) FROM unnest($4::text[]) AS p (s) WHERE strpos(c.text, p.s) > 0)"
    " AS relevance"
    " FROM knowledge_chunks c"
    " JOIN knowledge_documents d ON d.owner = c.owner AND d.document_id = c.document_id"
    " CROSS JOIN (SELECT CASE WHEN $3::text = '' THEN NULL"
    "  ELSE websearch_to_tsquery('simple', $3::text) END AS tsq) AS q"
    " WHERE c.owner = $1 AND c.space_id = $2 AND (c.tsv @@ q.tsq OR c.text ~ $5::text)"
    " ORDER BY relevance DESC, c.id LIMIT $6"
)
# The fallback: chunks of the space containing the most of the strings in $3.
_SEARCH_SUBSTRINGS = (
    "SELECT * FROM ("
    " SELECT c.id, c.document_id, d.source, d.title, c.ordinal, c.text,"
    "  (SELECT count(*) FROM unnest($3::text[]) AS p (s) WHERE strpos(c.text, p.s) > 0)"
    "  AS hits"
    " FROM knowledge_chunks c"
    " JOIN knowledge_documents d ON d.owner = c.owner AND d.document_id = c.document_id"
    " WHERE c.owner = $1 AND c.space_id = $2"
    ") AS m WHERE hits > 0 ORDER BY hits DESC, id LIMIT $4"
)


async def _require_space(conn: Any, owner: str, space_id: str, *, lock: bool = False) -> None:
    if await conn.fetchval(_LOCK_SPACE if lock else _SPACE_EXISTS, owner, space_id) is None:
        raise NotFoundError("knowledge space not found")


async def _search(
    conn: Any, owner: str, space_id: str, terms: SearchTerms, k: int
) -> tuple[base.Hit, ...]:
    await _require_space(conn, owner, space_id)
    primary: list[Any] = []
    if terms.words or terms.grams:
        words = " or ".join(terms.words)
        grams = list(terms.grams)
        regex = regex_alternation(grams) if grams else None
        rows = await conn.fetch(_SEARCH_INDEX, owner, space_id, words, grams, regex, k)
        primary = [columns.row_to_match(row) for row in rows]
    fallback: list[Any] = []
    if len(primary) < k and terms.bigrams:
        bigrams = list(terms.bigrams)
        rows = await conn.fetch(_SEARCH_SUBSTRINGS, owner, space_id, bigrams, k + len(primary))
        fallback = [columns.row_to_match(row) for row in rows]
    return rank(primary, fallback, k)


class PostgresKnowledgeStore(KnowledgeTables, PostgresBackedStore):
    """KnowledgeStore on PostgreSQL; see the module docstring.

    Open with `await PostgresKnowledgeStore.open(url)` (or core.knowledge.open_knowledge); the
    options are core.memory.postgres.PostgresStore's
    (core.storage.postgres_pool.PostgresBackedStore: `min_size`, `max_size`, `connect_timeout`,
    `command_timeout`), and the database may be the one thread memory uses. `trigram_index` tells
    whether pg_trgm serves substring matches.
    """

    kind: ClassVar[str] = "postgres"

    trigram_index: bool = False  # set by setup() at open

    async def setup(self, conn: Any) -> None:
        await super().setup(conn)
        self.trigram_index = await conn.fetchval(
            "SELECT to_regclass($1) IS NOT NULL", migrations.TRIGRAM_INDEX
        )
        if not self.trigram_index:
            logger.info("pg_trgm is unavailable: knowledge substring matches scan chunks")

    async def create_space(
        self, owner: str, space_id: str, name: str = "", description: str = ""
    ) -> base.Space:
        base.check_new_space(owner, space_id, name, description)
        now = time.time()
        with self._pool.errors():
            created = await self._pool.fetchval(
                _INSERT_SPACE, owner, space_id, name, description, now
            )
        if created is None:
            raise ConflictError("knowledge space already exists")
        return base.Space(
            space_id=space_id, name=name, description=description, created=now, document_count=0
        )

    async def get_space(self, owner: str, space_id: str) -> base.Space:
        base.check_space_args(owner, space_id)
        with self._pool.errors():
            row = await self._pool.fetchrow(_SELECT_SPACE, owner, space_id)
        if row is None:
            raise NotFoundError("knowledge space not found")
        return columns.row_to_space(row)

    async def list_spaces(self, owner: str) -> tuple[base.Space, ...]:
        base.require_owner(owner)
        with self._pool.errors():
            rows = await self._pool.fetch(_LIST_SPACES, owner)
        return tuple(columns.row_to_space(row) for row in rows)

    async def delete_space(self, owner: str, space_id: str) -> None:
        base.check_space_args(owner, space_id)
        # Documents and chunks go with the space: their foreign keys are ON DELETE CASCADE.
        with self._pool.errors():
            deleted = await self._pool.fetchval(_DELETE_SPACE, owner, space_id)
        if deleted is None:
            raise NotFoundError("knowledge space not found")

    async def erase_owner(self, owner: str) -> dict[str, int]:
        base.require_owner(owner)
        counts = {}
        with self._pool.errors():
            async with self._pool.acquire() as conn, conn.transaction():
                # Children first, so each count is that table's own rows (not a cascade's).
                for table in base.ERASED_TABLES:
                    status = await conn.execute(base.erase_statement(table, "$1"), owner)
                    counts[table] = int(status.rpartition(" ")[2])
        return counts

    async def add_document(
        self, owner: str, space_id: str, source: str, text: str, title: str = ""
    ) -> base.Document:
        base.check_document(owner, space_id, source, text, title)
        # Chunking a long text is CPU work: keep it off the event loop (SQLite does it in its
        # worker thread).
        new = await asyncio.to_thread(columns.new_document, space_id, source, text, title)
        with self._pool.errors():
            async with self._pool.acquire() as conn, conn.transaction():
                await _require_space(conn, owner, space_id, lock=True)
                await conn.execute(_DELETE_SOURCE, owner, space_id, source)
                await conn.execute(
                    _INSERT_DOCUMENT, *columns.document_to_params(owner, new.document)
                )
                await conn.executemany(_INSERT_CHUNK, columns.chunk_params(owner, new))
        return new.document

    async def list_documents(self, owner: str, space_id: str) -> tuple[base.Document, ...]:
        base.check_space_args(owner, space_id)
        with self._pool.errors():
            async with (
                self._pool.acquire() as conn,
                conn.transaction(isolation="repeatable_read", readonly=True),
            ):
                await _require_space(conn, owner, space_id)
                rows = await conn.fetch(_LIST_DOCUMENTS, owner, space_id)
        return tuple(columns.row_to_document(row) for row in rows)

    async def search(
        self, owner: str, space_id: str, query: str, k: int = 4
    ) -> tuple[base.Hit, ...]:
        base.check_search(owner, space_id, k)
        terms = parse_query(query)
        with self._pool.errors():
            async with (
                self._pool.acquire() as conn,
                conn.transaction(isolation="repeatable_read", readonly=True),
            ):
                return await _search(conn, owner, space_id, terms, k)
