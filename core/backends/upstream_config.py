"""UpstreamConfig: where and how the openai_compat backend reaches one upstream, typed once
from the catalog's options (URL, key, headers, timeouts).

Only the catalog entry configures an upstream: nothing is read from the environment here (the
openai SDK's OPENAI_ORG_ID, OPENAI_CUSTOM_HEADERS… would reach every upstream otherwise), and
the key has been resolved from its `api_key_env` by the catalog.
"""

from __future__ import annotations

import math
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field

from core.errors import ConfigError

DEFAULT_TIMEOUT = 60.0  # seconds to connect, and between two reads of the stream
NO_KEY = "EMPTY"  # sent to keyless upstreams (vLLM's convention)
_JSON = {"Accept": "application/json", "Content-Type": "application/json"}  # our bodies are JSON


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    """One upstream: `base_url` ends with "/" (so `url("chat/completions")` appends),
    `headers` are sent with every request (the operator's, then the key's Authorization),
    `timeout` bounds connecting and each read, `idle_timeout` (the router's, when set) each
    read once streaming."""

    base_url: str
    api_key: str = NO_KEY
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float = DEFAULT_TIMEOUT
    idle_timeout: float = 0.0

    def url(self, path: str) -> str:
        return self.base_url + path

    @property
    def host(self) -> str:
        """host:port, for log lines (never the path, which may hold a token)."""
        parts = urllib.parse.urlsplit(self.base_url)
        return f"{parts.hostname}:{parts.port or ''}"


def upstream_config(options: Mapping[str, object]) -> UpstreamConfig:
    """The UpstreamConfig of catalog options (ConfigError naming a bad one)."""
    base_url = text_option(options, "base_url")
    parts = urllib.parse.urlsplit(base_url)
    if not base_url or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError("openai_compat needs the base_url option, an http(s) URL")
    timeout = number_option(options, "timeout", DEFAULT_TIMEOUT)
    headers = options.get("default_headers") or {}
    if not isinstance(headers, Mapping) or not timeout:
        raise ConfigError("openai_compat needs a positive timeout and default_headers mapping")
    key = text_option(options, "api_key") or NO_KEY
    sent = {str(k): str(v) for k, v in headers.items()}
    sent = {k: v for k, v in sent.items() if k.lower() != "authorization"}
    return UpstreamConfig(
        base_url=base_url.rstrip("/") + "/",
        api_key=key,
        headers={**sent, "Authorization": f"Bearer {key}", **_JSON},
        timeout=timeout,
        idle_timeout=number_option(options, "idle_timeout", 0.0),
    )


def _number(text: str | None) -> float | None:
    try:
        value = float(text or "")
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def text_option(options: Mapping[str, object], name: str) -> str:
    value = options.get(name)
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"openai_compat option {name} must be a string")
    return value or ""


def number_option(options: Mapping[str, object], name: str, default: float) -> float:
    """A non-negative number (text configuration delivers numbers as strings)."""
    value = options.get(name, default)
    number = None if isinstance(value, bool) else _number(str(value))
    if number is None:
        raise ConfigError(f"openai_compat option {name} must be a non-negative number")
    return number


def flag_option(options: Mapping[str, object], name: str, default: bool) -> bool:
    text = str(options.get(name, default)).lower()
    if text not in ("true", "false"):
        raise ConfigError(f"openai_compat option {name} must be true or false")
    return text == "true"
