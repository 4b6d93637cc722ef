"""Thread memory's append-only, named schema migrations, recorded in `_migrations` (llm pattern).

Rules: a merged migration is never edited, reordered or removed; a schema change is a new
`mNNN_name` entry at the end. Each migration carries its SQLite and its PostgreSQL statements,
so dialect differences live here. The mechanism (and how stores apply it at open) is
core.storage.schema's.
"""

from __future__ import annotations

from typing import Final

from core.storage.schema import Migration, Schema

# Key for pg_advisory_xact_lock while migrating: an arbitrary constant ("chatrpc" in ASCII).
POSTGRES_LOCK_KEY: Final = 0x636861747270

_BACKFILL_THREADS: Final = (
    """UPDATE threads SET
        turn_count = (SELECT count(*) FROM turns
            WHERE turns.owner = threads.owner AND turns.thread_id = threads.thread_id),
        oldest_turn = COALESCE((SELECT min(created) FROM turns
            WHERE turns.owner = threads.owner AND turns.thread_id = threads.thread_id), created),
        end_user = COALESCE((SELECT end_user FROM turns WHERE turns.owner = threads.owner
            AND turns.thread_id = threads.thread_id AND turns.first_seq = 0), ''),
        metadata = COALESCE((SELECT metadata FROM turns WHERE turns.owner = threads.owner
            AND turns.thread_id = threads.thread_id AND turns.first_seq = 0), '{}')""",
)
# The sweeper's three questions, each an index range: idle since, turns beyond keep_latest,
# oldest turn older than the response TTL; and erasure by user.
_RETENTION_INDEXES: Final = (
    "CREATE INDEX threads_by_idle ON threads (updated)",
    "CREATE INDEX threads_by_turn_count ON threads (turn_count)",
    "CREATE INDEX threads_by_oldest_turn ON threads (oldest_turn)",
    "CREATE INDEX threads_with_ttl ON threads (ttl_seconds) WHERE ttl_seconds IS NOT NULL",
    "CREATE INDEX turns_by_user ON turns (owner, end_user) WHERE end_user <> ''",
)


_API_KEYS: Final = """CREATE TABLE api_keys (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    previous_digest TEXT NOT NULL,
    previous_until DOUBLE PRECISION NOT NULL,
    models TEXT NOT NULL,
    limits TEXT NOT NULL,
    budget TEXT NOT NULL,
    expires DOUBLE PRECISION NOT NULL,
    revoked DOUBLE PRECISION NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    updated DOUBLE PRECISION NOT NULL
)"""
_API_KEY_INDEXES: Final = (
    "CREATE INDEX api_keys_by_previous_digest ON api_keys (previous_digest)",
    "CREATE INDEX api_keys_by_updated ON api_keys (updated)",
)
_SPEND: Final = """CREATE TABLE spend (
    key_name TEXT NOT NULL,
    owner TEXT NOT NULL,
    model TEXT NOT NULL,
    day TEXT NOT NULL,
    prompt_tokens BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    cost_micros BIGINT NOT NULL,
    PRIMARY KEY (key_name, day, model)
)"""

MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(
        name="m001_threads",
        sqlite=(
            """CREATE TABLE threads (
                owner TEXT NOT NULL,
                thread_id TEXT NOT NULL,
                created REAL NOT NULL,
                updated REAL NOT NULL,
                message_count INTEGER NOT NULL,
                PRIMARY KEY (owner, thread_id)
            ) WITHOUT ROWID""",
            "CREATE INDEX threads_by_updated ON threads (owner, updated DESC, thread_id DESC)",
        ),
        postgres=(
            """CREATE TABLE threads (
                owner TEXT NOT NULL,
                thread_id TEXT NOT NULL,
                created DOUBLE PRECISION NOT NULL,
                updated DOUBLE PRECISION NOT NULL,
                message_count BIGINT NOT NULL,
                PRIMARY KEY (owner, thread_id)
            )""",
            "CREATE INDEX threads_by_updated ON threads (owner, updated DESC, thread_id DESC)",
        ),
    ),
    Migration(
        name="m002_messages",
        sqlite=(
            """CREATE TABLE messages (
                owner TEXT NOT NULL,
                thread_id TEXT NOT NULL,
                seq INTEGER NOT NULL,
                turn_id TEXT NOT NULL,
                role TEXT NOT NULL,
                content TEXT NOT NULL,
                name TEXT NOT NULL,
                tool_calls TEXT NOT NULL,
                tool_call_id TEXT NOT NULL,
                created REAL NOT NULL,
                PRIMARY KEY (owner, thread_id, seq),
                FOREIGN KEY (owner, thread_id) REFERENCES threads (owner, thread_id)
                    ON DELETE CASCADE
            ) WITHOUT ROWID""",
        ),
        postgres=(
            """CREATE TABLE messages (
                owner TEXT NOT NULL,
                thread_id TEXT NOT NULL,
                seq BIGINT NOT NULL,
                turn_id TEXT NOT NULL,
                role TEXT NOT NULL,
                content TEXT NOT NULL,
                name TEXT NOT NULL,
                tool_calls TEXT NOT NULL,
                tool_call_id TEXT NOT NULL,
                created DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (owner, thread_id, seq),
                FOREIGN KEY (owner, thread_id) REFERENCES threads (owner, thread_id)
                    ON DELETE CASCADE
            )""",
        ),
    ),
    Migration(
        name="m003_turns",
        sqlite=(
            """CREATE TABLE turns (
                owner TEXT NOT NULL,
                turn_id TEXT NOT NULL,
                thread_id TEXT NOT NULL,
                model TEXT NOT NULL,
                finish_reason TEXT NOT NULL,
                prompt_tokens INTEGER NOT NULL,
                completion_tokens INTEGER NOT NULL,
                idempotency_key TEXT NOT NULL,
                request_hash TEXT NOT NULL,
                created REAL NOT NULL,
                first_seq INTEGER NOT NULL,
                message_count INTEGER NOT NULL,
                PRIMARY KEY (owner, turn_id),
                FOREIGN KEY (owner, thread_id) REFERENCES threads (owner, thread_id)
                    ON DELETE CASCADE
            )""",
            "CREATE INDEX turns_by_thread ON turns (owner, thread_id)",
            """CREATE UNIQUE INDEX turns_by_idempotency_key ON turns (owner, idempotency_key)
                WHERE idempotency_key <> ''""",
        ),
        postgres=(
            """CREATE TABLE turns (
                owner TEXT NOT NULL,
                turn_id TEXT NOT NULL,
                thread_id TEXT NOT NULL,
                model TEXT NOT NULL,
                finish_reason TEXT NOT NULL,
                prompt_tokens BIGINT NOT NULL,
                completion_tokens BIGINT NOT NULL,
                idempotency_key TEXT NOT NULL,
                request_hash TEXT NOT NULL,
                created DOUBLE PRECISION NOT NULL,
                first_seq BIGINT NOT NULL,
                message_count BIGINT NOT NULL,
                PRIMARY KEY (owner, turn_id),
                FOREIGN KEY (owner, thread_id) REFERENCES threads (owner, thread_id)
                    ON DELETE CASCADE
            )""",
            "CREATE INDEX turns_by_thread ON turns (owner, thread_id)",
            """CREATE UNIQUE INDEX turns_by_idempotency_key ON turns (owner, idempotency_key)
                WHERE idempotency_key <> ''""",
        ),
    ),
    Migration(
        name="m004_turn_caller",
        # The caller's end-user id and metadata, recorded with each turn (never identity).
        sqlite=(
            "ALTER TABLE turns ADD COLUMN end_user TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE turns ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}'",
        ),
        postgres=(
            "ALTER TABLE turns ADD COLUMN end_user TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE turns ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}'",
        ),
    ),
    Migration(
        name="m005_turn_instructions",
        # The text of a turn's system messages, recorded so a turn looked up by id (GetTurn,
        # the gateway's GET /v1/responses/{id}) can say what it was told; never context.
        sqlite=("ALTER TABLE turns ADD COLUMN instructions TEXT NOT NULL DEFAULT ''",),
        postgres=("ALTER TABLE turns ADD COLUMN instructions TEXT NOT NULL DEFAULT ''",),
    ),
    Migration(
        name="m006_message_reasoning",
        # An assistant message's reasoning, kept only where the server is configured to.
        sqlite=("ALTER TABLE messages ADD COLUMN reasoning TEXT NOT NULL DEFAULT ''",),
        postgres=("ALTER TABLE messages ADD COLUMN reasoning TEXT NOT NULL DEFAULT ''",),
    ),
    Migration(
        name="m007_turn_request_id",
        # The request's x-request-id, so a turn can be found from a log line or a trace.
        sqlite=(
            "ALTER TABLE turns ADD COLUMN request_id TEXT NOT NULL DEFAULT ''",
            "CREATE INDEX turns_by_request_id ON turns (request_id) WHERE request_id <> ''",
        ),
        postgres=(
            "ALTER TABLE turns ADD COLUMN request_id TEXT NOT NULL DEFAULT ''",
            "CREATE INDEX turns_by_request_id ON turns (request_id) WHERE request_id <> ''",
        ),
    ),
    Migration(
        name="m008_message_parts",
        # A message's content parts (text and image URLs) as JSON, '' for a text message, so
        # a thread's later turns see its images again.
        sqlite=("ALTER TABLE messages ADD COLUMN parts TEXT NOT NULL DEFAULT ''",),
        postgres=("ALTER TABLE messages ADD COLUMN parts TEXT NOT NULL DEFAULT ''",),
    ),
    Migration(
        name="m009_background_and_conversations",
        # Background turns and their numbered event logs (core.memory.background): a stream
        # resumes from any replica; logs expire on their own clock, apart from threads. And
        # what conversations need of a thread: messages hidden from its history (a deleted
        # item keeps its seq, so later seqs and turns stay put); its metadata is m010's.
        sqlite=(
            """CREATE TABLE background_runs (
                owner TEXT NOT NULL,
                run_id TEXT NOT NULL,
                thread_id TEXT NOT NULL,
                model TEXT NOT NULL,
                status TEXT NOT NULL,
                lease_owner TEXT NOT NULL,
                lease_expires REAL NOT NULL,
                created REAL NOT NULL,
                updated REAL NOT NULL,
                expires REAL NOT NULL,
                last_sequence INTEGER NOT NULL,
                client_state BLOB NOT NULL,
                error_reason TEXT NOT NULL,
                error_message TEXT NOT NULL,
                PRIMARY KEY (owner, run_id)
            )""",
            # The sweep's two scans: active runs by lease, ended runs by expiry.
            "CREATE INDEX background_runs_by_lease ON background_runs (lease_expires)"
            " WHERE status IN ('queued', 'in_progress')",
            "CREATE INDEX background_runs_by_expiry ON background_runs (expires)",
            """CREATE TABLE background_events (
                owner TEXT NOT NULL,
                run_id TEXT NOT NULL,
                seq INTEGER NOT NULL,
                payload BLOB NOT NULL,
                PRIMARY KEY (owner, run_id, seq),
                FOREIGN KEY (owner, run_id) REFERENCES background_runs (owner, run_id)
                    ON DELETE CASCADE
            )""",
            "ALTER TABLE messages ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0",
        ),
        postgres=(
            """CREATE TABLE background_runs (
                owner TEXT NOT NULL,
                run_id TEXT NOT NULL,
                thread_id TEXT NOT NULL,
                model TEXT NOT NULL,
                status TEXT NOT NULL,
                lease_owner TEXT NOT NULL,
                lease_expires DOUBLE PRECISION NOT NULL,
                created DOUBLE PRECISION NOT NULL,
                updated DOUBLE PRECISION NOT NULL,
                expires DOUBLE PRECISION NOT NULL,
                last_sequence BIGINT NOT NULL,
                client_state BYTEA NOT NULL,
                error_reason TEXT NOT NULL,
                error_message TEXT NOT NULL,
                PRIMARY KEY (owner, run_id)
            )""",
            # The sweep's two scans: active runs by lease, ended runs by expiry.
            "CREATE INDEX background_runs_by_lease ON background_runs (lease_expires)"
            " WHERE status IN ('queued', 'in_progress')",
            "CREATE INDEX background_runs_by_expiry ON background_runs (expires)",
            """CREATE TABLE background_events (
                owner TEXT NOT NULL,
                run_id TEXT NOT NULL,
                seq BIGINT NOT NULL,
                payload BYTEA NOT NULL,
                PRIMARY KEY (owner, run_id, seq),
                FOREIGN KEY (owner, run_id) REFERENCES background_runs (owner, run_id)
                    ON DELETE CASCADE
            )""",
            "ALTER TABLE messages ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0",
        ),
    ),
    Migration(
        name="m010_thread_retention",
        # What retention, search and erasure read from a thread without scanning its turns: its
        # first turn's user and metadata (searchable, updatable), its per-thread retention
        # overrides (NULL: the server's default; 0: never), its turn count (keep_latest) and
        # when its oldest kept turn was stored (the response TTL). Backfilled from the turns.
        sqlite=(
            "ALTER TABLE threads ADD COLUMN end_user TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE threads ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}'",
            "ALTER TABLE threads ADD COLUMN ttl_seconds REAL",
            "ALTER TABLE threads ADD COLUMN keep_latest INTEGER",
            "ALTER TABLE threads ADD COLUMN turn_count INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE threads ADD COLUMN oldest_turn REAL NOT NULL DEFAULT 0",
            *_BACKFILL_THREADS,
            *_RETENTION_INDEXES,
        ),
        postgres=(
            "ALTER TABLE threads ADD COLUMN end_user TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE threads ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}'",
            "ALTER TABLE threads ADD COLUMN ttl_seconds DOUBLE PRECISION",
            "ALTER TABLE threads ADD COLUMN keep_latest BIGINT",
            "ALTER TABLE threads ADD COLUMN turn_count BIGINT NOT NULL DEFAULT 0",
            "ALTER TABLE threads ADD COLUMN oldest_turn DOUBLE PRECISION NOT NULL DEFAULT 0",
            *_BACKFILL_THREADS,
            *_RETENTION_INDEXES,
        ),
    ),
    Migration(
        name="m011_erasures",
        # The audit of erasures: who asked, when, whose data (the user value only as a hash:
        # the audit must not keep the identifier it erased) and how many rows of each kind.
        sqlite=(
            """CREATE TABLE erasures (
                erasure_id TEXT PRIMARY KEY,
                owner TEXT NOT NULL,
                user_hash TEXT NOT NULL,
                actor TEXT NOT NULL,
                created REAL NOT NULL,
                counts TEXT NOT NULL
            )""",
            "CREATE INDEX erasures_by_owner ON erasures (owner, created)",
        ),
        postgres=(
            """CREATE TABLE erasures (
                erasure_id TEXT PRIMARY KEY,
                owner TEXT NOT NULL,
                user_hash TEXT NOT NULL,
                actor TEXT NOT NULL,
                created DOUBLE PRECISION NOT NULL,
                counts TEXT NOT NULL
            )""",
            "CREATE INDEX erasures_by_owner ON erasures (owner, created)",
        ),
    ),
    Migration(
        name="m012_api_keys",
        # Virtual keys (core.keys): only a SHA-256 of each secret is stored, never the secret;
        # during a rotation's grace the previous digest stays valid until `previous_until`.
        # `updated` moves on every change, so replicas reload what changed.
        sqlite=(_API_KEYS.replace("DOUBLE PRECISION", "REAL"), *_API_KEY_INDEXES),
        postgres=(_API_KEYS, *_API_KEY_INDEXES),
    ),
    Migration(
        name="m013_spend",
        # Usage per key, model and UTC day, as turns report it (cancelled and failed turns
        # included); cost in millionths of a dollar, from the catalog's per-model prices.
        sqlite=(_SPEND.replace("BIGINT", "INTEGER"),),
        postgres=(_SPEND,),
    ),
)

SCHEMA: Final = Schema(
    migrations=MIGRATIONS,
    table="_migrations",
    postgres_lock_key=POSTGRES_LOCK_KEY,
    label="migration",
)
