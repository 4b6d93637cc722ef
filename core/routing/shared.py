"""SharedBreakers: every core replica's breakers, shared through Redis (CHATRPC_REDIS_URL).

A deployment opened by one replica is written as `chatrpc:breaker:<model>:<deployment>` =
its reopening time (wall clock), expiring then; a replica that closes it deletes the key.
One task per process reads every key each SYNC_INTERVAL (one MGET) and opens, locally, the
deployments another replica opened. Redis is advisory: when it cannot be reached each
replica keeps its own breakers and keeps serving (one WARNING, then quiet until it is back);
a request never waits on Redis (writes are fire-and-forget tasks, reads are the sync task's).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Final

import redis.asyncio
import redis.exceptions

from core.routing.breaker import State
from core.routing.deployment import Deployment
from observability import metrics

logger = logging.getLogger(__name__)

KEY_PREFIX: Final = "chatrpc:breaker:"
SYNC_INTERVAL: Final = 0.2  # seconds between reads of the shared state
REDIS_TIMEOUT: Final = 0.25  # seconds for one Redis call: a slow Redis is a missing Redis


class SharedBreakers:
    """The Redis-shared part of the breakers of this process's deployments."""

    def __init__(self, redis_url: str) -> None:
        self._client = redis.asyncio.Redis.from_url(
            redis_url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
        )
        self._watched: dict[str, tuple[str, Deployment]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sync: asyncio.Task[None] | None = None
        self._healthy = True

    def watch(self, model: str, deployment: Deployment) -> None:
        """Shares `deployment`'s breaker from now on."""
        self._watched[_key(model, deployment.name)] = model, deployment

    def publish(self, model: str, deployment: Deployment) -> None:
        """Writes a transition (called by the router on every change it makes)."""
        self._start()
        task = asyncio.get_running_loop().create_task(self._write(model, deployment))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, model: str, deployment: Deployment) -> None:
        breaker, key = deployment.breaker, _key(model, deployment.name)
        try:
            if breaker.state is State.OPEN:
                millis = int((breaker.open_until - time.time()) * 1000)
                if millis > 0:
                    await self._client.set(key, repr(breaker.open_until), px=millis)
            elif breaker.state is State.CLOSED:
                await self._client.delete(key)
            self._up()
        except (redis.exceptions.RedisError, OSError) as exc:
            self._down(exc)

    def _start(self) -> None:
        if self._sync is None:
            self._sync = asyncio.get_running_loop().create_task(self._run())

    def start(self) -> None:
        """Starts the sync task (on the serving event loop)."""
        self._start()

    async def _run(self) -> None:
        while True:
            await self.sync()
            await asyncio.sleep(SYNC_INTERVAL)

    async def sync(self) -> None:
        """Opens here every deployment another replica opened."""
        keys = list(self._watched)
        if not keys:
            return
        try:
            values = await self._client.mget(keys)
            self._up()
        except (redis.exceptions.RedisError, OSError) as exc:
            self._down(exc)
            return
        now = time.time()
        for key, value in zip(keys, values, strict=True):
            if value is None:
                continue
            model, deployment = self._watched[key]
            with contextlib.suppress(ValueError):
                deployment.breaker.adopt(float(value), now)
                state = deployment.breaker.state
                metrics.child(metrics.BREAKER_STATE, model, deployment.name).set(state)

    def _up(self) -> None:
        if not self._healthy:
            logger.warning("Redis is back: breakers are shared again")
        self._healthy = True

    def _down(self, exc: BaseException) -> None:
        if self._healthy:
            logger.warning(
                "Redis unreachable (%s): each replica keeps its own breakers", type(exc).__name__
            )
        self._healthy = False

    async def aclose(self) -> None:
        if self._sync is not None:
            self._sync.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sync
        for task in list(self._tasks):
            task.cancel()
        await self._client.aclose()


def _key(model: str, deployment: str) -> str:
    return f"{KEY_PREFIX}{model}:{deployment}"
