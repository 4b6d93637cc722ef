"""`python -m bench.synthetic_core --port P --tokens N`: a real chatrpc core serving
`bench-model` on the SyntheticBackend (health SERVING once started), until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from bench.synthetic import BENCH_MODEL, DEFAULT_TOKENS, SyntheticBackend
from core.auth import KeyRing
from core.catalog import ModelCatalog, ModelSpec
from core.server.app import create_server
from core.settings import Settings

logger = logging.getLogger("bench.synthetic_core")


def build_catalog(tokens: int, delay: float) -> ModelCatalog:
    """One model, `bench-model`, already attached to its synthetic backend."""
    spec = ModelSpec(name=BENCH_MODEL, backend=SyntheticBackend.kind, context_window=1 << 20)
    catalog = ModelCatalog([spec])
    catalog.attach(BENCH_MODEL, SyntheticBackend(tokens, delay))
    return catalog


async def serve(settings: Settings, tokens: int, delay: float) -> None:
    catalog = build_catalog(tokens, delay)
    # Keyless, like `make run`: the bench measures the chat path, not key checks.
    keys = KeyRing({}, required=False)
    core = await create_server(settings, keys, catalog)
    await core.server.start()
    await core.set_serving(True)
    logger.info("synthetic core serving %s on %s:%d", BENCH_MODEL, settings.host, core.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await core.stop(0)
        await catalog.aclose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=50051)
    parser.add_argument("--tokens", type=int, default=DEFAULT_TOKENS)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each token")
    parser.add_argument(
        "--max-concurrent-rpcs",
        type=int,
        default=1024,
        help="the core's default (64) would refuse the 256-stream level",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings(
        host=args.host, port=args.port, max_concurrent_rpcs=args.max_concurrent_rpcs
    )
    asyncio.run(serve(settings, args.tokens, args.delay))


if __name__ == "__main__":
    main()
