"""`python -m core`: Settings.from_env() → build() → serve() until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import uvloop

from core.auth import load_keyring
from core.catalog import build_catalog
from core.errors import ChatError
from core.knowledge import open_knowledge
from core.loading import load_models
from core.memory import open_store
from core.server.app import CoreServer, create_server
from core.settings import Settings
from observability import metrics
from observability.logs import configure_logging
from observability.tracing import configure_tracing

logger = logging.getLogger("core")


async def serve(settings: Settings) -> None:
    catalog = build_catalog(settings)
    store = await open_store(settings.database_url)
    knowledge = await open_knowledge(settings.database_url)
    keys = load_keyring(settings.auth, settings.api_keys_file, settings.api_keys)
    if keys.required and not keys.digests:
        logger.warning(
            "no API keys configured: every call is refused (set CHATRPC_API_KEYS or "
            "CHATRPC_API_KEYS_FILE, or CHATRPC_AUTH=disabled for local use)"
        )
    core: CoreServer = await create_server(
        settings, keys, catalog, threads=store, knowledge=knowledge
    )
    await core.server.start()
    logger.info(
        "chatrpc core listening on %s:%d (NOT_SERVING until loaded)", settings.host, core.port
    )
    if core.metrics is not None:
        logger.info("metrics on http://%s:%d/metrics", settings.host, core.metrics.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await load_models(catalog, settings.environ)
        await core.set_serving(True)
        logger.info("serving")
        await stop.wait()
        logger.info("shutting down; in-flight turns get %.0f s", settings.grace_seconds)
    finally:
        await core.stop(settings.grace_seconds)
        await catalog.aclose()
        await store.aclose()
        await knowledge.aclose()


def main() -> None:
    try:
        settings = Settings.from_env()
        configure_logging(settings.log_format, access=settings.access_log)
        metrics.record(settings.metrics)
        configure_tracing("chatrpc-core", settings.environ)
        # uvloop runs grpc.aio (measured faster than asyncio's loop: bench/RESULTS.md).
        uvloop.run(serve(settings))
    except ChatError as exc:
        logger.error("cannot start: %s", exc.message)
        sys.exit(1)


if __name__ == "__main__":
    main()
