"""API keys: who is calling. Keys are kept as SHA-256 digests and compared in constant time.

A key's name is its identity: the owner of every thread, space and turn the key touches.
Identity never comes from a request body (`user`, `user_name`, `sys_code` are recorded only).
The key file also holds each key's limits (requests and tokens per minute, concurrent turns),
which core.quotas enforces.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from core.errors import ConfigError, UnauthenticatedError
from core.types import DEFAULT_OWNER

_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_DIGEST = re.compile(r"[0-9a-f]{64}")
_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +(\S+) *")


def bearer_key(authorization: str | None) -> str | None:
    """The key of an `Authorization: Bearer <key>` value, or None if it is not one."""
    match = _BEARER.fullmatch(authorization or "")
    return match.group(1) if match else None


def digest(key: str) -> str:
    """The SHA-256 hex digest under which a key is stored."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class KeyLimits:
    """One key's limits; 0 means unlimited."""

    requests_per_minute: int = 0
    tokens_per_minute: int = 0  # prompt plus completion tokens of the key's turns
    concurrent_streams: int = 0  # Chat and StreamChat calls in flight at once, per core


UNLIMITED = KeyLimits()
_LIMIT_FIELDS = ("requests_per_minute", "tokens_per_minute", "concurrent_streams")


@dataclass(frozen=True, slots=True)
class KeyRing:
    """The configured keys (name → digest), or `required=False` for keyless local use;
    `limits` holds the limits of the keys that have any (name → KeyLimits)."""

    digests: Mapping[str, str]
    required: bool = True
    limits: Mapping[str, KeyLimits] = field(default_factory=lambda: MappingProxyType({}))

    def limits_of(self, owner: str) -> KeyLimits:
        """The limits of the key named `owner` (UNLIMITED for keys without any)."""
        return self.limits.get(owner, UNLIMITED)

    def identify(self, authorization: str | None) -> str:
        """The identity (owner) behind an `Authorization: Bearer <key>` value.

        Raises UnauthenticatedError for a missing, malformed or unknown key. With keys not
        required, every caller is the one default owner.
        """
        if not self.required:
            return DEFAULT_OWNER
        key = bearer_key(authorization)
        if key is None:
            raise UnauthenticatedError(
                "Missing or malformed API key: send 'Authorization: Bearer <key>'."
            )
        presented = digest(key).encode()
        found = ""
        for name, stored in self.digests.items():  # no early exit: time does not depend on the key
            if hmac.compare_digest(presented, stored.encode()):
                found = name
        if not found:
            raise UnauthenticatedError("Invalid API key.")
        return found


def load_keyring(mode: str, keys_file: str, inline: str) -> KeyRing:
    """Keys from the settings: `mode` "disabled" allows keyless use; otherwise keys come from
    `keys_file` (TOML `[keys.<name>] sha256 = "<hex>"`) and `inline` ("name=key,name=key")."""
    if mode == "disabled":
        return KeyRing({}, required=False)
    if mode != "required":
        raise ConfigError(f"CHATRPC_AUTH must be 'required' or 'disabled', not {mode!r}")
    digests: dict[str, str] = {}
    limits: dict[str, KeyLimits] = {}
    if keys_file:
        file_digests, limits = _file_keys(Path(keys_file))
        digests.update(file_digests)
    for item in filter(None, (part.strip() for part in inline.split(","))):
        name, sep, key = item.partition("=")
        if not sep or not _NAME.fullmatch(name) or not key:
            raise ConfigError("CHATRPC_API_KEYS entries are name=key")
        digests[name] = digest(key)
    return KeyRing(digests, required=True, limits=MappingProxyType(limits))


def _file_keys(path: Path) -> tuple[dict[str, str], dict[str, KeyLimits]]:
    """The digests and limits of a key file (TOML `[keys.<name>]` tables)."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the API key file {path}: {exc}") from None
    digests, limits = {}, {}
    for name, entry in document.get("keys", {}).items():
        value = entry.get("sha256", "") if isinstance(entry, dict) else ""
        if not _NAME.fullmatch(name) or not _DIGEST.fullmatch(value):
            raise ConfigError(
                f"{path}: keys.{name} needs a name of [A-Za-z0-9_.:-] and a sha256 hex digest"
            )
        digests[name] = value
        key_limits = _key_limits(entry, f"{path}: keys.{name}")
        if key_limits != UNLIMITED:
            limits[name] = key_limits
    return digests, limits


def _key_limits(entry: Mapping[str, object], where: str) -> KeyLimits:
    unknown = set(entry) - {"sha256", *_LIMIT_FIELDS}
    if unknown:
        raise ConfigError(f"{where} has unknown settings: {', '.join(sorted(unknown))}")
    values: dict[str, int] = {}
    for name in _LIMIT_FIELDS:
        value = entry.get(name, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"{where}.{name} must be a whole number >= 0 (0: unlimited)")
        values[name] = value
    return KeyLimits(**values)
