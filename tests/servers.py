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
from core.backends import create_backend
from core.backends.base import Backend
from core.catalog import ModelCatalog, ModelSpec
from core.knowledge import KnowledgeStore, open_knowledge
from core.memory import MemoryStore, open_store
from core.server.app import CoreServer, create_server
from core.settings import Settings

T = TypeVar("T")


def with_models(catalog: ModelCatalog, *models: tuple[ModelSpec, Backend]) -> ModelCatalog:
    """`catalog` (its models and their backends) plus `models`, each a spec and its backend; a
    spec replaces the model of its name."""
    added = {spec.name for spec, _ in models}
    kept = [spec for spec in catalog if spec.name not in added]
    extended = ModelCatalog([*kept, *(spec for spec, _ in models)])
    for spec in kept:
        extended.attach(spec.name, catalog.backend(spec.name))
    for spec, backend in models:
        extended.attach(spec.name, backend)
    return extended


def upstream_model(
    name: str, base_url: str, upstream_model: str, api_key: str, **options: object
) -> tuple[ModelSpec, Backend]:
    """A 32k-token catalog entry `name` on an OpenAI-compatible upstream and its openai_compat
    backend, for `with_models` (CoreThread closes the backend); `options` are the backend's
    others."""
    spec = ModelSpec(name=name, backend="openai_compat", context_window=32768)
    options |= {"base_url": base_url, "upstream_model": upstream_model, "api_key": api_key}
    return spec, create_backend("openai_compat", options)


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
    """A started core server serving `catalog`; `target` is its "127.0.0.1:<port>";
    `settings` are Settings fields besides host and port."""

    def __init__(
        self,
        catalog: ModelCatalog,
        *,
        database_url: str | None = None,
        keys: KeyRing | None = None,
        settings: Settings | None = None,
        metrics: bool = False,
    ) -> None:
        # Metrics on a free port only when a test scrapes them (`metrics_url`).
        self.settings = replace(
            settings or Settings(), host="127.0.0.1", port=0, metrics_port=0 if metrics else None
        )
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
        exporter = self.core.metrics
        self.metrics_url = f"http://127.0.0.1:{exporter.port}/metrics" if exporter else ""

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

    async def _close_upstream_backends(self) -> None:
        """Closes the openai_compat backends, whose HTTP clients belong to this loop (a test
        makes them for its server; the shared catalog's other backends outlive it)."""
        for spec in self.catalog:
            if spec.backend == "openai_compat" and self.catalog.is_ready(spec.name):
                await self.catalog.backend(spec.name).aclose()

    def stop(self) -> None:
        self._loop.run(self.core.server.stop(0))
        self._loop.run(self.core.stop_background())
        self._loop.run(self.core.quotas.aclose())
        if self.core.metrics is not None:
            self.core.metrics.close()
        self._loop.run(self._close_upstream_backends())
        if self.store is not None:
            self._loop.run(self.store.aclose())
        if self.knowledge is not None:
            self._loop.run(self.knowledge.aclose())
        self._loop.close()


class UvicornThread:
    """An ASGI app under a real uvicorn on 127.0.0.1:0, on its own thread and loop; `url` is
    its "http://127.0.0.1:<port>" (https with `ssl_certfile`). `config` is uvicorn.Config's
    other arguments."""

    def __init__(self, app: Any, **config: Any) -> None:
        import uvicorn

        self.app = app
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, **config))
        self._thread = threading.Thread(target=self.server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        scheme = "https" if config.get("ssl_certfile") else "http"
        self.url = f"{scheme}://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(10)


class GatewayThread(UvicornThread):
    """The gateway app under a real uvicorn (lifespan on), on its own thread and loop;
    `config` is uvicorn.Config's other arguments (`uvicorn_options(settings)` for the
    gateway's own protocol and limits); `metrics_url` is its Prometheus endpoint when its
    settings turn metrics on."""

    def __init__(self, app: Any, **config: Any) -> None:
        super().__init__(app, log_level="warning", lifespan="on", **config)
        exporter = app.state.gateway.metrics
        self.metrics_url = f"http://127.0.0.1:{exporter.port}/metrics" if exporter else ""
