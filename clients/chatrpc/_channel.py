"""How both clients open their channel: the options (keepalive) and the credentials (TLS).

One place, so the sync and async clients connect alike and further channel settings (a
service config, for instance) are added once.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc

Options = Sequence[tuple[str, str | int]]


def channel_options(
    options: Options, keepalive: float | None, keepalive_timeout: float
) -> list[tuple[str, str | int]]:
    """gRPC channel options: keepalive pings every `keepalive` seconds (None: none), a ping
    unanswered for `keepalive_timeout` seconds failing the connection and its calls
    (UNAVAILABLE) instead of leaving them to their deadlines; then `options`, which win.

    Pings go on with no call open and while a call waits for data, so a hung server is found
    whether or not anything is in flight; the core accepts pings that often
    (core/server/app.py). A reconnection attempt gives up after the same time, so a server
    that accepts TCP but never answers (a stopped process) fails new calls quickly too.
    """
    defaults: dict[str, str | int] = {}
    if keepalive is not None:
        defaults = {
            "grpc.keepalive_time_ms": round(keepalive * 1000),
            "grpc.keepalive_timeout_ms": round(keepalive_timeout * 1000),
            "grpc.keepalive_permit_without_calls": 1,
            # Any unanswered ping (a flow-control probe too, which keepalive waits behind)
            # fails the connection after the keepalive timeout, not gRPC's default minute.
            "grpc.http2.ping_timeout_ms": round(keepalive_timeout * 1000),
            "grpc.http2.max_pings_without_data": 0,  # default 2: then it stops pinging
            "grpc.min_reconnect_backoff_ms": round((keepalive + keepalive_timeout) * 1000),
        }
    return list({**defaults, **dict(options)}.items())


def channel_credentials(
    tls: bool,
    root_certificates: bytes | None,
    certificate_chain: bytes | None,
    private_key: bytes | None,
    credentials: grpc.ChannelCredentials | None,
) -> grpc.ChannelCredentials | None:
    """The channel's credentials: the given ones; else TLS if `tls` or any PEM is given
    (roots None: the system's; a chain and key: mTLS); else None, plaintext."""
    if credentials is not None:
        return credentials
    if not (tls or root_certificates or certificate_chain or private_key):
        return None
    return grpc.ssl_channel_credentials(root_certificates, private_key, certificate_chain)
