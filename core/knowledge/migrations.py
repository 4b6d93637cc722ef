"""Append-only, named knowledge-store schema migrations, recorded in `_knowledge_migrations`.

The mechanism is core.storage.schema's, as for thread memory, with its own list, tracking table and
advisory-lock key, so thread memory and knowledge can share one SQLite file or one
PostgreSQL database and migrate independently. A merged migration is never edited, reordered
or removed; a schema change is a new `mNNN_name` entry at the end.

SQLite indexes chunk text in an FTS5 table with the trigram tokenizer (an external-content
table kept in step by triggers, so cascading deletes unindex chunks too). PostgreSQL keeps a
generated `tsvector` ('simple' configuration: no stemming, no stop words) under a GIN index and,
when the pg_trgm extension can be created, a GIN trigram index that serves ILIKE substring
matches; without pg_trgm those matches scan the space's chunks instead (same results, slower).
"""

from __future__ import annotations

from typing import Final

from core.storage.schema import Migration, Schema

# Key for pg_advisory_xact_lock while migrating: "knowledg" in ASCII, unlike memory's key.
POSTGRES_LOCK_KEY: Final = 0x6B6E6F776C656467

# The PostgreSQL index name whose presence means pg_trgm serves substring matches.
TRIGRAM_INDEX: Final = "knowledge_chunks_trgm"

MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(
        name="m001_spaces",
        sqlite=(
            """CREATE TABLE knowledge_spaces (
                owner TEXT NOT NULL,
                space_id TEXT NOT NULL,
                name TEXT NOT NULL,
                description TEXT NOT NULL,
                created REAL NOT NULL,
                PRIMARY KEY (owner, space_id)
            ) WITHOUT ROWID""",
        ),
        postgres=(
            """CREATE TABLE knowledge_spaces (
                owner TEXT NOT NULL,
                space_id TEXT NOT NULL,
                name TEXT NOT NULL,
                description TEXT NOT NULL,
                created DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (owner, space_id)
            )""",
        ),
    ),
    Migration(
        name="m002_documents",
        sqlite=(
            """CREATE TABLE knowledge_documents (
                owner TEXT NOT NULL,
                document_id TEXT NOT NULL,
                space_id TEXT NOT NULL,
                source TEXT NOT NULL,
                title TEXT NOT NULL,
                created REAL NOT NULL,
                chunk_count INTEGER NOT NULL,
                PRIMARY KEY (owner, document_id),
                UNIQUE (owner, space_id, source),
                FOREIGN KEY (owner, space_id) REFERENCES knowledge_spaces (owner, space_id)
                    ON DELETE CASCADE
            ) WITHOUT ROWID""",
        ),
        postgres=(
            """CREATE TABLE knowledge_documents (
                owner TEXT NOT NULL,
                document_id TEXT NOT NULL,
                space_id TEXT NOT NULL,
                source TEXT NOT NULL,
                title TEXT NOT NULL,
                created DOUBLE PRECISION NOT NULL,
                chunk_count BIGINT NOT NULL,
                PRIMARY KEY (owner, document_id),
                UNIQUE (owner, space_id, source),
                FOREIGN KEY (owner, space_id) REFERENCES knowledge_spaces (owner, space_id)
                    ON DELETE CASCADE
            )""",
        ),
    ),
    Migration(
        name="m003_chunks",
        sqlite=(
            """CREATE TABLE knowledge_chunks (
                id INTEGER PRIMARY KEY,
                owner TEXT NOT NULL,
                space_id TEXT NOT NULL,
                document_id TEXT NOT NULL,
                ordinal INTEGER NOT NULL,
                text TEXT NOT NULL,
                UNIQUE (owner, document_id, ordinal),
                FOREIGN KEY (owner, document_id) REFERENCES knowledge_documents (owner, document_id)
                    ON DELETE CASCADE
            )""",
            "CREATE INDEX knowledge_chunks_by_space ON knowledge_chunks (owner, space_id)",
            """CREATE VIRTUAL TABLE knowledge_chunks_fts USING fts5 (
                text, content='knowledge_chunks', content_rowid='id', tokenize='trigram'
            )""",
            """CREATE TRIGGER knowledge_chunks_ai AFTER INSERT ON knowledge_chunks BEGIN
                INSERT INTO knowledge_chunks_fts (rowid, text) VALUES (new.id, new.text);
            END""",
            """CREATE TRIGGER knowledge_chunks_ad AFTER DELETE ON knowledge_chunks BEGIN
                INSERT INTO knowledge_chunks_fts (knowledge_chunks_fts, rowid, text)
                    VALUES ('delete', old.id, old.text);
            END""",
            """CREATE TRIGGER knowledge_chunks_au AFTER UPDATE ON knowledge_chunks BEGIN
                INSERT INTO knowledge_chunks_fts (knowledge_chunks_fts, rowid, text)
                    VALUES ('delete', old.id, old.text);
                INSERT INTO knowledge_chunks_fts (rowid, text) VALUES (new.id, new.text);
            END""",
        ),
        postgres=(
            """CREATE TABLE knowledge_chunks (
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                owner TEXT NOT NULL,
                space_id TEXT NOT NULL,
                document_id TEXT NOT NULL,
                ordinal BIGINT NOT NULL,
                text TEXT NOT NULL,
                tsv TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED,
                UNIQUE (owner, document_id, ordinal),
                FOREIGN KEY (owner, document_id) REFERENCES knowledge_documents (owner, document_id)
                    ON DELETE CASCADE
            )""",
            "CREATE INDEX knowledge_chunks_by_space ON knowledge_chunks (owner, space_id)",
            "CREATE INDEX knowledge_chunks_tsv ON knowledge_chunks USING gin (tsv)",
            # pg_trgm is optional: without the contrib package, or without the right to create
            # it, the block ends quietly and substring matches scan instead of using an index.
            """DO $$
            BEGIN
                CREATE EXTENSION IF NOT EXISTS pg_trgm;
                CREATE INDEX knowledge_chunks_trgm ON knowledge_chunks
                    USING gin (text gin_trgm_ops);
            EXCEPTION
                WHEN undefined_file OR insufficient_privilege OR undefined_object
                    OR feature_not_supported THEN NULL;
            END
            $$""",
        ),
    ),
)


SCHEMA: Final = Schema(
    migrations=MIGRATIONS,
    table="_knowledge_migrations",
    postgres_lock_key=POSTGRES_LOCK_KEY,
    label="knowledge migration",
)
