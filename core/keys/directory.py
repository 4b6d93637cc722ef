"""KeyDirectory: every key a core accepts — the configured ones (key file, environment) and
the database's virtual keys, which it reloads every `refresh` seconds.

So a key created, rotated or revoked through the admin API on any replica is seen by every
replica within `refresh` seconds (1 s by default), without a restart; the replica that made
the change sees it at once (the admin API reloads after each change). A database that is
away keeps the last keys loaded (logged); configured keys never depend on it.

Presented keys are looked up by their SHA-256 (a dictionary of digests: the secrets are 256
random bits, so the lookup's timing tells nothing useful); configured keys keep KeyRing's
constant-time comparison.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from core.auth import KeyLimits, KeyRing, bearer_key, digest
from core.errors import StorageError, UnauthenticatedError
from core.keys.base import KeyStore, VirtualKey

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a key is: the owner its calls act as, and the key's own name (limits, spend)."""

    owner: str
    key: str


class KeyDirectory:
    """Configured keys first, then the database's (see the module docstring)."""

    def __init__(
        self,
        ring: KeyRing,
        store: KeyStore | None = None,
        *,
        refresh: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._ring = ring
        self._store = store
        self._refresh = refresh
        self._clock = clock
        self._by_digest: dict[str, VirtualKey] = {}
        self._by_name: dict[str, VirtualKey] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def required(self) -> bool:
        return self._ring.required

    @property
    def store(self) -> KeyStore | None:
        return self._store

    def identify_key(self, authorization: str | None) -> Identity:
        """The identity behind an `Authorization: Bearer <key>` value; UnauthenticatedError
        for a missing, malformed, unknown, revoked or expired key."""
        if not self.required:
            owner = self._ring.identify(authorization)
            return Identity(owner, owner)
        with contextlib.suppress(UnauthenticatedError):
            name = self._ring.identify(authorization)
            return Identity(name, name)
        key = self.find(authorization)
        if key is None:
            raise UnauthenticatedError("Invalid API key.")
        return Identity(key.owner, key.name)

    def find(self, authorization: str | None) -> VirtualKey | None:
        """The valid virtual key presented, if any."""
        secret = bearer_key(authorization)
        if secret is None:
            raise UnauthenticatedError(
                "Missing or malformed API key: send 'Authorization: Bearer <key>'."
            )
        presented = digest(secret)
        key = self._by_digest.get(presented)
        return key if key is not None and key.valid(presented, self._clock()) else None

    def limits_of(self, key: str) -> KeyLimits:
        """The limits of a configured or virtual key, by name."""
        virtual = self._by_name.get(key)
        return virtual.limits if virtual is not None else self._ring.limits_of(key)

    def virtual(self, key: str) -> VirtualKey | None:
        """The virtual key of that name, as last loaded (None for configured keys)."""
        return self._by_name.get(key)

    async def reload(self) -> None:
        """Load the database's keys now."""
        if self._store is None:
            return
        keys = await self._store.list_keys()
        by_digest: dict[str, VirtualKey] = {}
        for key in keys:
            by_digest[key.digest] = key
            if key.previous_digest:
                by_digest[key.previous_digest] = key
        self._by_digest, self._by_name = by_digest, {k.name: k for k in keys}

    def start(self) -> None:
        """Reload every `refresh` seconds on the running loop (with a store; once)."""
        if self._store is not None and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="key-reload")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.reload()
            except StorageError as exc:
                logger.warning("cannot reload the virtual keys (keeping the last): %s", exc.message)
            await asyncio.sleep(self._refresh)
