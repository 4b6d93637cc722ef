"""Real servers for tests: a core on 127.0.0.1:0 running on its own event-loop thread.

A thread of its own lets sync clients (chatrpc.Client, grpcurl) and async clients in the
test's loop talk to the same server without deadlocks.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any, TypeVar

from core.auth import KeyRing
from core.catalog import ModelCatalog
from core.knowledge import KnowledgeStore, open_knowledge
from core.memory import MemoryStore, open_store
from core.server.app import CoreServer, create_server
from core.settings import Settings

T = TypeVar("T")


class LoopThread:
    """An asyncio loop on a daemon thread; `run()` executes a coroutine there and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


class CoreThread:
    """A started core server serving `catalog`; `target` is its "127.0.0.1:<port>"."""

    def __init__(
        self,
        catalog: ModelCatalog,
        settings: Settings | None = None,
        *,
        database_url: str | None = None,
        keys: KeyRing | None = None,
    ) -> None:
        self.settings = replace(settings or Settings(), host="127.0.0.1", port=0)
        self.keys = keys or KeyRing({}, required=False)
        self.catalog = catalog
        self._loop = LoopThread()
        self.store: MemoryStore | None = None
        self.knowledge: KnowledgeStore | None = None
        if database_url is not None:
            self.store = self._loop.run(open_store(database_url))
            self.knowledge = self._loop.run(open_knowledge(database_url))
        self.core: CoreServer = self._loop.run(self._start())
        self.target = f"127.0.0.1:{self.core.port}"

    async def _start(self) -> CoreServer:
        core = await create_server(
            self.settings, self.keys, self.catalog, threads=self.store, knowledge=self.knowledge
        )
        await core.server.start()
        await core.set_serving(True)
        return core

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Runs `coro` on the server's loop (for state owned by that loop)."""
        return self._loop.run(coro)

    def stop(self) -> None:
        self._loop.run(self.core.server.stop(0))
        if self.store is not None:
            self._loop.run(self.store.aclose())
        if self.knowledge is not None:
            self._loop.run(self.knowledge.aclose())
        self._loop.close()


class GatewayThread:
    """The gateway app under a real uvicorn on 127.0.0.1:0, on its own thread and loop."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.app = app
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(10)
