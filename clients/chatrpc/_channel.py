"""How the SDK's channels are built: the target, the replica service config, the channel options
(keepalive) and the credentials (TLS).

Every channel argument the SDK sets is decided here, so that both clients open their channels
the same way.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import grpc

SERVICE = "chatrpc.v1.ChatService"

ChannelOptions: TypeAlias = Sequence[tuple[str, str | int]]

# gRPC's default receive limit is 4 MiB; one Embed answer of 2048 vectors of 3072 float32
# (text-embedding-3-large's length) is 25 MB.
MAX_RECEIVE_BYTES = 64 * 1024 * 1024

# A replica that comes back is reconnected within about 2 s (gRPC's default backoff grows to
# 120 s), so it rejoins the rotation soon after it reports SERVING again.
_RECONNECT: tuple[tuple[str, int], ...] = (
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.min_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 2_000),
)


def replica_service_config(max_attempts: int = 3) -> dict[str, Any]:
    """The gRPC service config for a target with several core replicas.

    `round_robin` over every address the target resolves to; client-side health checking
    (grpc.health.v1 `Watch` on ChatService), so a replica that reports NOT_SERVING or dies
    leaves the rotation and rejoins when it is SERVING again; and a retry of UNAVAILABLE on
    ChatService's RPCs, `max_attempts` attempts in all. gRPC retries a call only until the first
    response message (or headers) arrives, and the core stores a turn only once it is complete,
    so a retry never runs a turn twice; send an idempotency key to cover the rare call whose
    turn was stored just before its replica died.

    Args:
        max_attempts: Attempts per call, the first included (2-5; gRPC caps it at 5).

    Returns:
        The service config as a JSON-ready dict (`AsyncClient(service_config=…)` takes it).

    Example:
        >>> client = chatrpc.AsyncClient(
        ...     "dns:///chatrpc-core.default.svc.cluster.local:50051",
        ...     service_config=chatrpc.replica_service_config(),
        ... )
    """
    if not 2 <= max_attempts <= 5:
        raise ValueError("max_attempts must be between 2 and 5")
    return {
        "loadBalancingConfig": [{"round_robin": {}}],
        "healthCheckConfig": {"serviceName": SERVICE},
        "methodConfig": [
            {
                "name": [{"service": SERVICE}],
                "retryPolicy": {
                    "maxAttempts": max_attempts,
                    "initialBackoff": "0.05s",
                    "maxBackoff": "0.5s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ],
    }


def replica_target(target: str) -> str:
    """A gRPC target from a target or a comma-separated list of IP addresses with ports.

    "10.0.0.5:50051,10.0.0.6:50051" becomes gRPC's static list "ipv4:10.0.0.5:50051,…" (IPv6:
    "[::1]:50051,[::1]:50052" becomes "ipv6:…"); anything else (`dns:///core:50051`,
    `host:port`, `ipv4:…`, `unix:…`) is returned unchanged. A list of host names is refused:
    give one DNS name that resolves to every replica instead (`dns:///name:port`).

    Example:
        >>> chatrpc.replica_target("127.0.0.1:50051,127.0.0.1:50052")
        'ipv4:127.0.0.1:50051,127.0.0.1:50052'
    """
    if "," not in target or target.startswith(("ipv4:", "ipv6:")):
        return target
    addresses = [part.strip() for part in target.split(",") if part.strip()]
    families = {_family(address) for address in addresses}
    if len(families) != 1:
        raise ValueError("a list of replica addresses must be all IPv4 or all IPv6")
    return f"{families.pop()}:{','.join(addresses)}"


def _family(address: str) -> str:
    host, sep, port = address.rpartition(":")
    try:
        ip = ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
    except ValueError:
        ip = None
    if ip is None or not sep or not port.isdigit():
        raise ValueError(
            f"{address!r} is not an IP address with a port; for host names use one DNS name"
            " that resolves to every replica (dns:///name:port)"
        )
    return f"ipv{ip.version}"


def channel_options(
    options: ChannelOptions = (),
    service_config: Mapping[str, Any] | None = None,
    keepalive: float | None = None,
    keepalive_timeout: float = 20.0,
) -> list[tuple[str, str | int]]:
    """The channel arguments for a client, `options` first (they win over ours).

    Always: a receive limit of MAX_RECEIVE_BYTES (gRPC's 4 MiB is less than a large Embed
    answer).
    With a service config: the config and a reconnect backoff short enough for replicas to
    rejoin quickly. With `keepalive`: pings every `keepalive` seconds, a ping unanswered for
    `keepalive_timeout` seconds failing the connection and its calls (UNAVAILABLE) instead of
    leaving them to their deadlines.

    Pings go on with no call open and while a call waits for data, so a hung server is found
    whether or not anything is in flight; the core accepts pings that often
    (core/server/app.py). A connection attempt gives up after `keepalive + keepalive_timeout`
    (gRPC reads the minimum reconnect backoff as the connect timeout), so a server that
    accepts TCP but never answers (a stopped process) fails new calls quickly too.
    """
    ours: dict[str, str | int] = {"grpc.max_receive_message_length": MAX_RECEIVE_BYTES}
    if service_config is not None:
        ours["grpc.service_config"] = json.dumps(dict(service_config))
        ours.update(_RECONNECT)
    if keepalive is not None:
        ours.update(
            {
                "grpc.keepalive_time_ms": round(keepalive * 1000),
                "grpc.keepalive_timeout_ms": round(keepalive_timeout * 1000),
                "grpc.keepalive_permit_without_calls": 1,
                # Any unanswered ping (a flow-control probe too, which keepalive waits behind)
                # fails the connection after the keepalive timeout, not gRPC's default minute.
                "grpc.http2.ping_timeout_ms": round(keepalive_timeout * 1000),
                "grpc.http2.max_pings_without_data": 0,  # default 2: then it stops pinging
                "grpc.min_reconnect_backoff_ms": round((keepalive + keepalive_timeout) * 1000),
            }
        )
    given = {name for name, _ in options}
    return [*options, *((name, value) for name, value in ours.items() if name not in given)]


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
