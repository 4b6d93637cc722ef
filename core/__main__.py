"""`python -m core`: Settings.from_env() → build() → serve() until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from core.backends import create_backend
from core.catalog import ModelCatalog, ModelSpec
from core.errors import ChatError
from core.memory import open_store
from core.pipeline import ChatPipeline
from core.server.app import CoreServer, create_server
from core.settings import Settings
from core.threads import ThreadMemory
from core.types import GenerationParams

logger = logging.getLogger("core")


def build_catalog(settings: Settings) -> ModelCatalog:
    """The catalog this process serves: the embedded (or configured) GGUF model."""
    spec = ModelSpec(
        name=settings.model_name,
        backend="llama_cpp",
        context_window=settings.context_window,
        defaults=GenerationParams(max_tokens=settings.default_max_tokens),
        options={
            "model_path": settings.model_path,
            "context_window": settings.context_window,
            "n_threads": settings.n_threads,
        },
    )
    return ModelCatalog([spec])


async def load_models(catalog: ModelCatalog) -> None:
    """Loads every model's backend off the event loop and attaches it to the catalog."""
    for spec in catalog:
        backend = await asyncio.to_thread(create_backend, spec.backend, spec.options)
        catalog.attach(spec.name, backend)
        logger.info("model %s ready (%s)", spec.name, spec.backend)


async def serve(settings: Settings) -> None:
    catalog = build_catalog(settings)
    store = await open_store(settings.database_url)
    memory = ThreadMemory(store, wait=settings.thread_wait_seconds)
    pipeline = ChatPipeline(catalog, settings.limits, memory=memory)
    core: CoreServer = await create_server(pipeline, settings)
    await core.server.start()
    logger.info(
        "chatrpc core listening on %s:%d (NOT_SERVING until loaded)", settings.host, core.port
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await load_models(catalog)
        await core.set_serving(True)
        logger.info("serving")
        await stop.wait()
        logger.info("shutting down; in-flight turns get %.0f s", settings.grace_seconds)
    finally:
        await core.stop(settings.grace_seconds)
        await catalog.aclose()
        await store.aclose()


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        asyncio.run(serve(Settings.from_env()))
    except ChatError as exc:
        logger.error("cannot start: %s", exc.message)
        sys.exit(1)


if __name__ == "__main__":
    main()
