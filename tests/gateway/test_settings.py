"""Settings.from_env reads every documented gateway variable."""

from __future__ import annotations

from dataclasses import replace

from gateway.settings import DEFAULT_METRICS_PORT, ConnectionLimits, CoreTls, Settings


def test_every_limit_and_tls_variable_is_read() -> None:
    env = {
        "CHATRPC_GATEWAY_IDLE_TIMEOUT": "1.5",
        "CHATRPC_GATEWAY_HEADER_TIMEOUT": "2",
        "CHATRPC_GATEWAY_BODY_TIMEOUT": "3",
        "CHATRPC_GATEWAY_MAX_HEADER_BYTES": "4096",
        "CHATRPC_GATEWAY_MAX_HEADERS": "10",
        "CHATRPC_GATEWAY_MAX_CONNECTIONS": "7",
        "CHATRPC_GATEWAY_MAX_CONNECTIONS_PER_CLIENT": "3",
        "CHATRPC_GATEWAY_SSE_HEARTBEAT": "0",
        "CHATRPC_GATEWAY_CORE_KEEPALIVE": "4",
        "CHATRPC_GATEWAY_CORE_KEEPALIVE_TIMEOUT": "2",
        "CHATRPC_CORE_TLS": "1",
        "CHATRPC_CORE_CA_FILE": "ca.pem",
        "CHATRPC_CORE_CLIENT_CERT_FILE": "c.pem",
        "CHATRPC_CORE_CLIENT_KEY_FILE": "k.pem",
        "CHATRPC_GATEWAY_SSL_CERTFILE": "s.pem",
        "CHATRPC_GATEWAY_SSL_KEYFILE": "sk.pem",
    }
    settings = Settings.from_env(env)
    assert settings.connections == ConnectionLimits(1.5, 2, 3, 4096, 10, 7, 3)
    assert (settings.sse_heartbeat, settings.core_keepalive, settings.core_keepalive_timeout) == (
        0,
        4,
        2,
    )
    assert settings.core_tls == CoreTls(True, "ca.pem", "c.pem", "k.pem")
    assert (settings.ssl_certfile, settings.ssl_keyfile) == ("s.pem", "sk.pem")
    # Unset variables keep the defaults, but for metrics: on for the process, off in code
    # (tests start many gateways).
    defaults = Settings.from_env({})
    assert defaults.metrics_port == DEFAULT_METRICS_PORT
    assert replace(defaults, metrics_port=None) == Settings()
