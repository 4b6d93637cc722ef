"""The gateway's bad-key throttle: a client address that presented too many keys the core
refused this minute is refused with 429 before its next request reaches the core.

The core throttles its own gRPC peers the same way but trusts the gateway's address (its
CHATRPC_TRUSTED_PROXIES), since every HTTP client arrives from there: the gateway counts per
HTTP client instead. Fixed one-minute windows of the `limits` library, in this process.
"""

from __future__ import annotations

import math
import time

from fastapi import HTTPException
from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import FixedWindowRateLimiter

_NAMESPACE = "bad-keys"


class BadKeyThrottle:
    """Counts refused keys per client address; `per_minute` 0 turns the throttle off."""

    def __init__(self, per_minute: int) -> None:
        self._item = RateLimitItemPerMinute(per_minute) if per_minute else None
        self._windows = FixedWindowRateLimiter(MemoryStorage())

    async def check(self, address: str) -> None:
        """HTTPException 429 (with retry-after) if `address` is over its budget."""
        if self._item is None or await self._windows.test(self._item, _NAMESPACE, address):
            return
        reset, _ = await self._windows.get_window_stats(self._item, _NAMESPACE, address)
        raise HTTPException(
            status_code=429,
            detail="Too many requests with invalid API keys from this address; try again later.",
            headers={"retry-after": str(max(1, math.ceil(reset - time.time())))},
        )

    async def refused(self, address: str) -> None:
        """Counts a key the core refused for `address`."""
        if self._item is not None:
            await self._windows.hit(self._item, _NAMESPACE, address)
