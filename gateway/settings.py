"""Gateway settings: a frozen dataclass, the only place the gateway reads environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """The bounds every HTTP connection is held to (gateway/http/connections.py)."""

    idle_timeout: float = 5.0  # seconds without a byte on a new or kept-alive connection
    header_timeout: float = 10.0  # seconds from a head's first byte to its end
    body_timeout: float = 30.0  # seconds from the end of the head to the end of the body
    max_header_bytes: int = 32 * 1024  # request line + fields (reference/reliability.md, H32)
    max_headers: int = 100
    max_connections: int = 1000  # open HTTP connections; beyond them, 503 at once
    # Open connections from one client address (0: no limit; behind a proxy every client
    # has the proxy's address, so raise it or leave it off there).
    max_connections_per_client: int = 0


@dataclass(frozen=True, slots=True)
class CoreTls:
    """TLS toward the core: off, server-verified (`ca_file`, or the system roots) or mutual."""

    enabled: bool = False
    ca_file: str = ""  # PEM roots that sign the core's certificate; empty: the system's
    cert_file: str = ""  # PEM client certificate chain, for a core that requires mTLS
    key_file: str = ""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the gateway process needs; built once, at start-up."""

    host: str = "127.0.0.1"
    port: int = 8000
    # One core, or several replicas: "dns:///name:port" (every address the name resolves to)
    # or "10.0.0.5:50051,10.0.0.6:50051"; the gateway balances with round_robin, health checks
    # and retries of UNAVAILABLE before the first reply message (chatrpc.replica_service_config).
    core_target: str = "127.0.0.1:50051"
    # The longest deadline of a call to the core (the OpenAI SDK's own default timeout is
    # 600 s); a client that sends a shorter timeout gets that one (gateway/http/deadlines.py).
    call_timeout: float = 600.0
    max_body_bytes: int = 1024 * 1024
    graceful_shutdown_seconds: float = 35.0
    connections: ConnectionLimits = field(default_factory=ConnectionLimits)
    # A `: ping` comment on a stream with nothing to send for this many seconds (0: never).
    sse_heartbeat: float = 15.0
    # gRPC keepalive pings to the core: a hung core fails calls after about the sum.
    core_keepalive: float = 5.0
    core_keepalive_timeout: float = 3.0
    core_tls: CoreTls = field(default_factory=CoreTls)
    # The gateway's own HTTPS (uvicorn's ssl options); both empty: plain HTTP.
    ssl_certfile: str = ""
    ssl_keyfile: str = ""
    # "required": a request without a Bearer key is refused here, before its body is read;
    # the core verifies every key (the gateway holds none). "disabled": keyless local use.
    auth: str = "required"
    # Keys the core refused, per HTTP client address and minute, before that address is
    # refused with 429 (gateway/http/throttle.py); 0: off.
    bad_keys_per_minute: int = 20
    # Prometheus /metrics on its own port (unauthenticated, like /health: it holds no request
    # data); 0 picks a free port, None is off. Off when built in code (tests start many
    # gateways); the process's default is DEFAULT_METRICS_PORT.
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None
    log_format: str = "text"  # or "json": one JSON object per line
    # The OTEL_* variables at start-up (observability.tracing reads them).
    otel_environ: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Reads CHATRPC_GATEWAY_*, CHATRPC_CORE_*; unset ones keep the defaults."""
        env = os.environ if env is None else env
        d = cls()
        c, t = d.connections, d.core_tls
        g = "CHATRPC_GATEWAY_"
        return cls(
            host=env.get(g + "HOST", d.host),
            port=int(env.get(g + "PORT", d.port)),
            core_target=env.get("CHATRPC_CORE_TARGET", d.core_target),
            call_timeout=float(env.get(g + "CALL_TIMEOUT", d.call_timeout)),
            max_body_bytes=int(env.get(g + "MAX_BODY_BYTES", d.max_body_bytes)),
            connections=ConnectionLimits(
                idle_timeout=float(env.get(g + "IDLE_TIMEOUT", c.idle_timeout)),
                header_timeout=float(env.get(g + "HEADER_TIMEOUT", c.header_timeout)),
                body_timeout=float(env.get(g + "BODY_TIMEOUT", c.body_timeout)),
                max_header_bytes=int(env.get(g + "MAX_HEADER_BYTES", c.max_header_bytes)),
                max_headers=int(env.get(g + "MAX_HEADERS", c.max_headers)),
                max_connections=int(env.get(g + "MAX_CONNECTIONS", c.max_connections)),
                max_connections_per_client=int(
                    env.get(g + "MAX_CONNECTIONS_PER_CLIENT", c.max_connections_per_client)
                ),
            ),
            sse_heartbeat=float(env.get(g + "SSE_HEARTBEAT", d.sse_heartbeat)),
            core_keepalive=float(env.get(g + "CORE_KEEPALIVE", d.core_keepalive)),
            core_keepalive_timeout=float(
                env.get(g + "CORE_KEEPALIVE_TIMEOUT", d.core_keepalive_timeout)
            ),
            core_tls=CoreTls(
                enabled=env.get("CHATRPC_CORE_TLS", "0") not in ("0", "false", "no", ""),
                ca_file=env.get("CHATRPC_CORE_CA_FILE", t.ca_file),
                cert_file=env.get("CHATRPC_CORE_CLIENT_CERT_FILE", t.cert_file),
                key_file=env.get("CHATRPC_CORE_CLIENT_KEY_FILE", t.key_file),
            ),
            ssl_certfile=env.get(g + "SSL_CERTFILE", d.ssl_certfile),
            ssl_keyfile=env.get(g + "SSL_KEYFILE", d.ssl_keyfile),
            auth=env.get("CHATRPC_AUTH", d.auth),
            bad_keys_per_minute=int(
                env.get("CHATRPC_GATEWAY_BAD_KEYS_PER_MINUTE", d.bad_keys_per_minute)
            ),
            metrics_host=env.get("CHATRPC_GATEWAY_METRICS_HOST", d.metrics_host),
            metrics_port=_port_or_off(env.get("CHATRPC_GATEWAY_METRICS_PORT")),
            log_format=_log_format(env.get("CHATRPC_LOG_FORMAT", d.log_format)),
            otel_environ={k: v for k, v in env.items() if k.startswith("OTEL_")},
        )


DEFAULT_METRICS_PORT = 9465  # `python -m gateway` serves Prometheus /metrics here unless off


def _port_or_off(raw: str | None) -> int | None:
    """The metrics port: unset → the default, "" or "off" → None, else the number."""
    if raw is None:
        return DEFAULT_METRICS_PORT
    return None if raw.strip().lower() in ("", "off") else int(raw)


def _log_format(raw: str) -> str:
    if raw not in ("text", "json"):
        raise ValueError("CHATRPC_LOG_FORMAT must be 'text' or 'json'")
    return raw
