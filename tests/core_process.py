"""`python -m tests.core_process --port P --database-url URL`: a core process for replica tests.

The real server and store, with the scripted backend answering "echo: <last message>" as
the only model ("scripted").
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from core.auth import KeyRing
from core.catalog import ModelCatalog, ModelSpec
from core.memory import open_store
from core.server.app import create_server
from core.settings import Settings
from tests.fakes import ScriptedBackend


async def serve(port: int, database_url: str) -> None:
    catalog = ModelCatalog(
        [ModelSpec(name="scripted", backend="scripted", context_window=1_000_000)]
    )
    catalog.attach("scripted", ScriptedBackend(echo=True))
    store = await open_store(database_url)
    keys = KeyRing({}, required=False)
    core = await create_server(Settings(port=port), keys, catalog, threads=store)
    await core.server.start()
    await core.set_serving(True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await core.stop(1)
    await store.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.database_url))
