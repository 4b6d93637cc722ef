"""Gateway settings: a frozen dataclass, the only place the gateway reads environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the gateway process needs; built once, at start-up."""

    host: str = "127.0.0.1"
    port: int = 8000
    # One core, or several replicas: "dns:///name:port" (every address the name resolves to)
    # or "10.0.0.5:50051,10.0.0.6:50051"; the gateway balances with round_robin, health checks
    # and retries of UNAVAILABLE before the first reply message (chatrpc.replica_service_config).
    core_target: str = "127.0.0.1:50051"
    # Deadline of every call to the core (the OpenAI SDK's own default timeout is 600 s).
    call_timeout: float = 600.0
    max_body_bytes: int = 1024 * 1024
    graceful_shutdown_seconds: float = 35.0
    # uvicorn/h11: the largest incomplete request head (reference/reliability.md, H32).
    max_header_bytes: int = 32 * 1024
    # "required": a request without a Bearer key is refused here, before its body is read;
    # the core verifies every key (the gateway holds none). "disabled": keyless local use.
    auth: str = "required"
    # Keys the core refused, per HTTP client address and minute, before that address is
    # refused with 429 (gateway/throttle.py); 0: off.
    bad_keys_per_minute: int = 20

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Reads CHATRPC_GATEWAY_* and CHATRPC_CORE_TARGET; unset ones keep the defaults."""
        env = os.environ if env is None else env
        d = cls()
        return cls(
            host=env.get("CHATRPC_GATEWAY_HOST", d.host),
            port=int(env.get("CHATRPC_GATEWAY_PORT", d.port)),
            core_target=env.get("CHATRPC_CORE_TARGET", d.core_target),
            call_timeout=float(env.get("CHATRPC_GATEWAY_CALL_TIMEOUT", d.call_timeout)),
            max_body_bytes=int(env.get("CHATRPC_GATEWAY_MAX_BODY_BYTES", d.max_body_bytes)),
            auth=env.get("CHATRPC_AUTH", d.auth),
            bad_keys_per_minute=int(
                env.get("CHATRPC_GATEWAY_BAD_KEYS_PER_MINUTE", d.bad_keys_per_minute)
            ),
        )
