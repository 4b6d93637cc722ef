"""Gateway settings: a frozen dataclass, the only place the gateway reads environment variables."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, NamedTuple


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
    # A streamed reply's text waiting for a slow client, at most (bytes): beyond it the
    # gateway stops reading the core's stream until the client catches up.
    stream_buffer_bytes: int = 1024 * 1024
    # Seconds one write to a streaming client may stall (the client stopped reading) before
    # the stream is closed and its turn cancelled (0: never).
    stream_write_timeout: float = 30.0
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
    # Peers (addresses or CIDRs) whose X-Forwarded-For names the client: from them, the
    # right-most entry that is not itself a trusted proxy is the client's address (for the
    # bad-key throttle, the logs); from any other peer the header is ignored.
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    # Prometheus /metrics on its own port (unauthenticated, like /health: it holds no request
    # data); 0 picks a free port, None is off. Off when built in code (tests start many
    # gateways); the process's default is DEFAULT_METRICS_PORT.
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None
    log_format: str = "text"  # or "json": one JSON object per line
    # The admin routes (/v1/admin/…: virtual keys, spend) are served only when turned on (the
    # core still requires an admin key), and listed in the OpenAPI document only if asked.
    admin_routes: bool = False
    admin_in_openapi: bool = False
    access_log: bool = True  # one INFO line per request (CHATRPC_ACCESS_LOG=off: none)
    metrics: bool = True  # Prometheus metrics recorded (CHATRPC_METRICS=off: none, no cost)
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
            stream_buffer_bytes=int(env.get(g + "STREAM_BUFFER_BYTES", d.stream_buffer_bytes)),
            stream_write_timeout=float(env.get(g + "STREAM_WRITE_TIMEOUT", d.stream_write_timeout)),
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
            trusted_proxies=_hosts(env.get(g + "TRUSTED_PROXIES"), d.trusted_proxies),
            metrics_host=env.get("CHATRPC_GATEWAY_METRICS_HOST", d.metrics_host),
            metrics_port=_port_or_off(env.get("CHATRPC_GATEWAY_METRICS_PORT")),
            log_format=_log_format(env.get("CHATRPC_LOG_FORMAT", d.log_format)),
            admin_routes=env.get(g + "ADMIN_ROUTES", "0") in ("1", "true", "yes"),
            admin_in_openapi=env.get(g + "ADMIN_IN_OPENAPI", "0") in ("1", "true", "yes"),
            access_log=_switch(env.get("CHATRPC_ACCESS_LOG"), "CHATRPC_ACCESS_LOG", d.access_log),
            metrics=_switch(env.get("CHATRPC_METRICS"), "CHATRPC_METRICS", d.metrics),
            otel_environ={k: v for k, v in env.items() if k.startswith("OTEL_")},
        )


DEFAULT_METRICS_PORT = 9465  # `python -m gateway` serves Prometheus /metrics here unless off


def _port_or_off(raw: str | None) -> int | None:
    """The metrics port: unset → the default, "" or "off" → None, else the number."""
    if raw is None:
        return DEFAULT_METRICS_PORT
    return None if raw.strip().lower() in ("", "off") else int(raw)


def _hosts(raw: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """A comma-separated list of addresses or CIDRs (each checked); unset keeps `default`."""
    if raw is None:
        return default
    hosts = tuple(h.strip() for h in raw.split(",") if h.strip())
    for host in hosts:
        try:
            ipaddress.ip_network(host, strict=False)
        except ValueError:
            message = f"CHATRPC_GATEWAY_TRUSTED_PROXIES: {host!r} is no address or CIDR"
            raise ValueError(message) from None
    return hosts


def _switch(raw: str | None, name: str, default: bool) -> bool:
    """An on/off variable (on, off, true, false, 1, 0, yes, no); unset or empty: default."""
    value = (raw or "").strip().lower()
    if not value:
        return default
    if value in ("on", "true", "1", "yes"):
        return True
    if value in ("off", "false", "0", "no"):
        return False
    raise ValueError(f"{name} must be on or off, got {raw!r}")


def _log_format(raw: str) -> str:
    if raw not in ("text", "json"):
        raise ValueError("CHATRPC_LOG_FORMAT must be 'text' or 'json'")
    return raw


class EnvVar(NamedTuple):
    """One environment variable the gateway reads: the Settings attribute it sets (a dotted
    path), what it means and, when the dataclass's default is not what the process uses, the
    default as the docs should show it. `python -m scripts.gen_docs` renders these into
    docs/operations/configuration.md, and tests/docs check that from_env reads exactly these."""

    name: str
    attribute: str
    meaning: str
    default: str | None = None


_G = "CHATRPC_GATEWAY_"
ENVIRONMENT: Final[tuple[EnvVar, ...]] = (
    EnvVar(_G + "HOST", "host", "HTTP bind address"),
    EnvVar(_G + "PORT", "port", "HTTP port"),
    EnvVar(
        "CHATRPC_CORE_TARGET",
        "core_target",
        "the core, or its replicas: `dns:///name:port` or `10.0.0.5:50051,10.0.0.6:50051`",
    ),
    EnvVar(
        _G + "CALL_TIMEOUT",
        "call_timeout",
        "the longest deadline (s) of a call to the core; a client's `x-request-timeout` or"
        " `x-stainless-read-timeout` may shorten it",
    ),
    EnvVar(_G + "MAX_BODY_BYTES", "max_body_bytes", "larger request bodies get 413"),
    EnvVar(
        _G + "IDLE_TIMEOUT",
        "connections.idle_timeout",
        "seconds without a byte on a new or kept-alive connection before it is closed",
    ),
    EnvVar(
        _G + "HEADER_TIMEOUT",
        "connections.header_timeout",
        "seconds from a request head's first byte to its end (then 408)",
    ),
    EnvVar(
        _G + "BODY_TIMEOUT",
        "connections.body_timeout",
        "seconds from the end of the head to the end of the body (then 408)",
    ),
    EnvVar(
        _G + "MAX_HEADER_BYTES",
        "connections.max_header_bytes",
        "request line + header fields, in bytes (then 431)",
    ),
    EnvVar(_G + "MAX_HEADERS", "connections.max_headers", "header fields per request (then 431)"),
    EnvVar(
        _G + "MAX_CONNECTIONS",
        "connections.max_connections",
        "open HTTP connections; beyond them, 503 `too_many_connections` at once",
    ),
    EnvVar(
        _G + "MAX_CONNECTIONS_PER_CLIENT",
        "connections.max_connections_per_client",
        "open connections from one client address (`0`: no limit; leave it off behind a proxy)",
    ),
    EnvVar(
        _G + "SSE_HEARTBEAT",
        "sse_heartbeat",
        "seconds of silence on a stream before a `: ping` comment (`0`: never)",
    ),
    EnvVar(_G + "CORE_KEEPALIVE", "core_keepalive", "seconds between keepalive pings to the core"),
    EnvVar(
        _G + "CORE_KEEPALIVE_TIMEOUT",
        "core_keepalive_timeout",
        "how long such a ping may go unanswered before the core's calls fail",
    ),
    EnvVar("CHATRPC_CORE_TLS", "core_tls.enabled", "`1`: TLS to the core"),
    EnvVar(
        "CHATRPC_CORE_CA_FILE",
        "core_tls.ca_file",
        "PEM roots that sign the core's certificate (unset: the system's)",
    ),
    EnvVar(
        "CHATRPC_CORE_CLIENT_CERT_FILE",
        "core_tls.cert_file",
        "PEM client certificate chain, for a core that requires mutual TLS",
    ),
    EnvVar("CHATRPC_CORE_CLIENT_KEY_FILE", "core_tls.key_file", "…and its PEM key"),
    EnvVar(_G + "SSL_CERTFILE", "ssl_certfile", "serve HTTPS with this certificate…"),
    EnvVar(_G + "SSL_KEYFILE", "ssl_keyfile", "…and this key"),
    EnvVar(
        "CHATRPC_AUTH",
        "auth",
        "`disabled`: no Bearer key needed here (the core still decides)",
    ),
    EnvVar(
        _G + "STREAM_BUFFER_BYTES",
        "stream_buffer_bytes",
        "bytes of a streamed reply waiting for a slow client before the core's stream is paused",
    ),
    EnvVar(
        _G + "STREAM_WRITE_TIMEOUT",
        "stream_write_timeout",
        "seconds a write to a streaming client may stall before the stream closes and its turn"
        " is cancelled (`0`: never)",
    ),
    EnvVar(
        _G + "TRUSTED_PROXIES",
        "trusted_proxies",
        "addresses or CIDRs of proxies whose X-Forwarded-For names the client (default: loopback)",
    ),
    EnvVar(
        _G + "BAD_KEYS_PER_MINUTE",
        "bad_keys_per_minute",
        "keys the core refused per HTTP client address a minute before that address gets 429"
        " (`0`: off)",
    ),
    EnvVar(_G + "METRICS_HOST", "metrics_host", "Prometheus `/metrics` address"),
    EnvVar(
        _G + "METRICS_PORT",
        "metrics_port",
        "Prometheus `/metrics` port (`0` a free port, `off` none)",
        f"`{DEFAULT_METRICS_PORT}`",
    ),
    EnvVar(
        _G + "ADMIN_ROUTES",
        "admin_routes",
        "`1` serves the admin routes (`/v1/admin/…`: virtual keys, spend; admin keys only)",
    ),
    EnvVar(
        _G + "ADMIN_IN_OPENAPI",
        "admin_in_openapi",
        "`1` lists the admin routes in the OpenAPI document",
    ),
    EnvVar("CHATRPC_LOG_FORMAT", "log_format", "`json`: one JSON object per log line"),
    EnvVar(
        "CHATRPC_ACCESS_LOG",
        "access_log",
        "`off`: no INFO line per request (`gateway.access`)",
        "on",
    ),
    EnvVar("CHATRPC_METRICS", "metrics", "`off`: no metric recorded at all", "on"),
)
