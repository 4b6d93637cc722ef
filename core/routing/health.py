"""HealthChecks: the optional active probes of self-hosted deployments (`health_check_interval`
in a model's [routing] table; off by default, since a paid API may charge for probes).

One task per process probes each deployment of the models that ask for it every interval with
`GET {base_url}/models` (no prompt). A failed probe counts as one failure of the deployment (its
breaker opens after `failures`); a good probe closes an open deployment at once, so a node that
came back takes traffic before its cooldown ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from core.routing.breaker import State
from core.routing.deployment import Deployment
from core.routing.router import Router

logger = logging.getLogger(__name__)

PROBE_TIMEOUT = 5.0  # seconds, at most (and at most the interval)


@runtime_checkable
class Probing(Protocol):
    """A backend that can tell cheaply whether its upstream answers."""

    async def probe(self) -> bool: ...


class HealthChecks:
    """Probes the deployments of `routers` whose model sets a health_check_interval."""

    def __init__(self, routers: Sequence[Router]) -> None:
        self._routers = [r for r in routers if r.config.health_check_interval > 0]
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._routers and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        due = {id(r): 0.0 for r in self._routers}
        while True:
            now = time.monotonic()
            ready = [r for r in self._routers if due[id(r)] <= now]
            for router in ready:
                due[id(router)] = now + router.config.health_check_interval
            await asyncio.gather(*(self.check(r) for r in ready))
            await asyncio.sleep(max(0.01, min(due.values()) - time.monotonic()))

    async def check(self, router: Router) -> None:
        """One probe of each of the router's deployments."""
        await asyncio.gather(*(self._probe(router, d) for d in router.deployments))

    async def _probe(self, router: Router, deployment: Deployment) -> None:
        backend = deployment.backend
        if not isinstance(backend, Probing):
            return
        try:
            async with asyncio.timeout(min(PROBE_TIMEOUT, router.config.health_check_interval)):
                healthy = await backend.probe()
        except TimeoutError:
            healthy = False
        breaker = deployment.breaker
        if healthy and breaker.state is not State.CLOSED:
            logger.info(
                "deployment %s of %s answers its probe: closed", deployment.name, router.model
            )
            breaker.close()
        elif not healthy:
            logger.info("deployment %s of %s failed its probe", deployment.name, router.model)
            breaker.failed(time.time())

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
