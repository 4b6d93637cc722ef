"""`python -m gateway`: uvicorn serving create_app(Settings.from_env())."""

from __future__ import annotations

import logging

import uvicorn

from gateway.app import create_app
from gateway.connections import uvicorn_options
from gateway.settings import Settings


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings.from_env()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",  # measured faster than asyncio's loop (bench/RESULTS.md)
        # httptools (measured faster than h11, and strict where h11 is lenient) held to the
        # connection limits: see gateway/connections.py.
        **uvicorn_options(settings),
        access_log=False,
        log_level="info",
    )


if __name__ == "__main__":
    main()
