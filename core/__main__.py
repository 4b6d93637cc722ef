"""`python -m core`: Settings.from_env() → build() → serve() until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from core.auth import load_keyring
from core.backends import create_backend
from core.catalog import ModelCatalog, load_specs, override_embedded, resolve_key
from core.errors import ChatError, ModelNotConfiguredError, ModelNotReadyError
from core.knowledge import open_knowledge
from core.memory import open_store
from core.pipeline import ChatPipeline
from core.server.app import CoreServer, create_server
from core.settings import Settings
from core.threads import ThreadMemory
from core.variants import Variants, load_apps, load_flows

logger = logging.getLogger("core")


def build_catalog(settings: Settings) -> ModelCatalog:
    """The catalog file's models, with the embedded-model overrides from the environment."""
    specs = load_specs(Path(settings.models_file))
    specs = override_embedded(
        specs, settings.model_name, settings.model_path, settings.context_window
    )
    local = {"n_threads": settings.n_threads}
    return ModelCatalog(
        [
            replace(s, options={**s.options, **local, "context_window": s.context_window})
            if s.backend == "llama_cpp"
            else s
            for s in specs
        ]
    )


async def load_models(catalog: ModelCatalog, environ: Mapping[str, str]) -> None:
    """Builds every model's backend off the event loop and attaches it to the catalog.

    A model whose API-key variable is unset is marked not configured; the default model
    failing to load stops the server, any other model failing is marked unavailable.
    """
    for spec in catalog:
        options, missing = resolve_key(spec, environ)
        if missing:
            message = f"The model {spec.name!r} needs an API key: set {missing} for the core."
            catalog.mark_unready(spec.name, ModelNotConfiguredError(message, model=spec.name))
            logger.info("model %s not configured (set %s)", spec.name, missing)
            continue
        try:
            backend = await asyncio.to_thread(create_backend, spec.backend, options)
        except ChatError as exc:
            if spec.name == catalog.default:
                raise
            catalog.mark_unready(
                spec.name, ModelNotReadyError(f"The model {spec.name!r} failed to load.")
            )
            logger.error("model %s failed to load: %s", spec.name, exc.message)
            continue
        catalog.attach(spec.name, backend)
        logger.info("model %s ready (%s)", spec.name, spec.backend)


async def serve(settings: Settings) -> None:
    catalog = build_catalog(settings)
    store = await open_store(settings.database_url)
    knowledge = await open_knowledge(settings.database_url)
    apps = load_apps(Path(settings.apps_dir))
    variants = Variants(apps, load_flows(Path(settings.flows_dir), apps), knowledge)
    memory = ThreadMemory(store, wait=settings.thread_wait_seconds)
    pipeline = ChatPipeline(catalog, settings.limits, memory=memory, variants=variants)
    keys = load_keyring(settings.auth, settings.api_keys_file, settings.api_keys)
    if keys.required and not keys.digests:
        logger.warning(
            "no API keys configured: every call is refused (set CHATRPC_API_KEYS or "
            "CHATRPC_API_KEYS_FILE, or CHATRPC_AUTH=disabled for local use)"
        )
    core: CoreServer = await create_server(pipeline, settings, keys)
    await core.server.start()
    logger.info(
        "chatrpc core listening on %s:%d (NOT_SERVING until loaded)", settings.host, core.port
    )
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
