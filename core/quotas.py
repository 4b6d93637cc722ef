"""Per-key limits (requests and tokens per minute, concurrent turns) and the bad-key throttle.

The counters are fixed one-minute windows of the `limits` library: in this process by
default, or in Redis (`CHATRPC_REDIS_URL`), shared by every core replica pointed at it. A
window costs one atomic increment to count a request, and the remaining budget is read back
for OpenAI's `x-ratelimit-*` headers, which every admitted and refused turn carries.

Tokens are charged when a turn ends (its usage; for a turn cancelled or failed after output,
an estimate of what it generated), so a key may overshoot its budget by its last turn; while
its window holds no tokens, its next turns are refused. Concurrent turns are
counted per core process (a crashed replica must not leak slots in a shared store).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio
from limits import RateLimitItem, RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter

from core.auth import KeyLimits
from core.errors import ResourceExhaustedError, StorageError

KEY_PREFIX = "chatrpc"


def open_storage(
    redis_url: str, key_prefix: str = KEY_PREFIX
) -> tuple[Storage, redis.asyncio.ConnectionPool | None]:
    """Redis at `redis_url` over a connection pool of redis-py's asyncio client (the caller
    closes it), or this process's memory if the URL is empty."""
    if not redis_url:
        return MemoryStorage(), None
    pool = redis.asyncio.ConnectionPool.from_url(redis_url)
    client_options: dict[str, Any] = {"connection_pool": pool}  # passed on to redis-py
    storage = RedisStorage(
        "async+redis://", implementation="redispy", key_prefix=key_prefix, **client_options
    )
    return storage, pool


@dataclass(slots=True)
class Grant:
    """An admitted turn: the headers to send, and its concurrency slot (release() once)."""

    headers: dict[str, str]
    release: Callable[[], None] = field(default=lambda: None)


class Quotas:
    """Admits or refuses each turn of a key against its KeyLimits, and throttles peers that
    present bad keys (`bad_keys_per_minute` per peer address; 0 turns that off)."""

    def __init__(
        self,
        storage: Storage,
        *,
        bad_keys_per_minute: int = 20,
        pool: redis.asyncio.ConnectionPool | None = None,
    ) -> None:
        self._storage = storage
        self._pool = pool
        self._windows = FixedWindowRateLimiter(storage)
        self._in_flight: Counter[str] = Counter()
        self._bad_keys = (
            RateLimitItemPerMinute(bad_keys_per_minute) if bad_keys_per_minute else None
        )

    async def admit(self, owner: str, limits: KeyLimits) -> Grant:
        """Counts one turn of `owner`; ResourceExhaustedError (with the headers) if over."""
        try:
            return await self._admit(owner, limits)
        except self._storage.base_exceptions as exc:
            raise _unavailable() from exc

    async def _admit(self, owner: str, limits: KeyLimits) -> Grant:
        headers: dict[str, str] = {}
        if limits.requests_per_minute:
            item = RateLimitItemPerMinute(limits.requests_per_minute)
            allowed = await self._windows.hit(item, "requests", owner)
            wait, _ = await self._describe(item, "requests", owner, headers)
            if not allowed:
                raise _refusal("requests per minute", wait, headers)
        if limits.tokens_per_minute:
            item = RateLimitItemPerMinute(limits.tokens_per_minute)
            wait, remaining = await self._describe(item, "tokens", owner, headers)
            if remaining == 0:
                raise _refusal("tokens per minute", wait, headers)
        if not limits.concurrent_streams:
            return Grant(headers)
        if self._in_flight[owner] >= limits.concurrent_streams:
            raise _refusal("concurrent requests", 1.0, headers)
        self._in_flight[owner] += 1
        return Grant(headers, release=lambda: self._release(owner))

    async def charge(self, owner: str, limits: KeyLimits, tokens: int) -> None:
        """Adds a finished turn's tokens to `owner`'s window."""
        if limits.tokens_per_minute and tokens > 0:
            item = RateLimitItemPerMinute(limits.tokens_per_minute)
            try:
                await self._windows.hit(item, "tokens", owner, cost=tokens)
            except self._storage.base_exceptions as exc:
                raise _unavailable() from exc

    async def check_peer(self, peer: str) -> None:
        """ResourceExhaustedError if `peer` sent too many bad keys this minute."""
        if self._bad_keys is None:
            return
        try:
            allowed = await self._windows.test(self._bad_keys, "bad-keys", peer)
            reset, _ = await self._windows.get_window_stats(self._bad_keys, "bad-keys", peer)
        except self._storage.base_exceptions as exc:
            raise _unavailable() from exc
        if not allowed:
            raise ResourceExhaustedError(
                "Too many requests with invalid API keys from this address; try again later.",
                retry_after=_seconds_until(reset),
                limit="bad_keys",
            )

    async def bad_key(self, peer: str) -> None:
        """Counts a bad key presented by `peer`."""
        if self._bad_keys is not None:
            try:
                await self._windows.hit(self._bad_keys, "bad-keys", peer)
            except self._storage.base_exceptions as exc:
                raise _unavailable() from exc

    @classmethod
    def open(cls, redis_url: str, *, bad_keys_per_minute: int = 20) -> Quotas:
        """Quotas counting in Redis at `redis_url`, or in this process if it is empty."""
        storage, pool = open_storage(redis_url)
        return cls(storage, bad_keys_per_minute=bad_keys_per_minute, pool=pool)

    async def aclose(self) -> None:
        """Closes the Redis connection pool, if any (the counters stay)."""
        if self._pool is not None:
            await self._pool.aclose()

    def _release(self, owner: str) -> None:
        self._in_flight[owner] -= 1
        if self._in_flight[owner] <= 0:
            del self._in_flight[owner]

    async def _describe(
        self, item: RateLimitItem, what: str, owner: str, headers: dict[str, str]
    ) -> tuple[float, int]:
        """Fills OpenAI's x-ratelimit-{limit,remaining,reset}-<what> headers; returns the
        seconds until the window resets and what remains of it."""
        reset, remaining = await self._windows.get_window_stats(item, what, owner)
        wait = _seconds_until(reset)
        headers[f"x-ratelimit-limit-{what}"] = str(item.amount)
        headers[f"x-ratelimit-remaining-{what}"] = str(remaining)
        headers[f"x-ratelimit-reset-{what}"] = duration(wait)
        return wait, remaining


def _unavailable() -> StorageError:
    return StorageError("The rate-limit store cannot be reached now; try again shortly.")


def _seconds_until(epoch: float) -> float:
    return max(0.001, epoch - time.time())


def _refusal(what: str, wait: float, headers: dict[str, str]) -> ResourceExhaustedError:
    return ResourceExhaustedError(
        f"Rate limit reached for this API key ({what}); try again in {duration(wait)}.",
        retry_after=wait,
        limit=what.replace(" ", "_"),
        **headers,
    )


def duration(seconds: float) -> str:
    """OpenAI's reset format: "20ms", "17s", "6m0s"."""
    if seconds < 1:
        return f"{max(1, math.ceil(seconds * 1000))}ms"
    whole = math.ceil(seconds)
    return f"{whole // 60}m{whole % 60}s" if whole >= 60 else f"{whole}s"
