"""`python -m gateway`: uvicorn serving create_app(Settings.from_env())."""

from __future__ import annotations

import logging

import uvicorn

from gateway.app import create_app
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
        timeout_graceful_shutdown=int(settings.graceful_shutdown_seconds),
        h11_max_incomplete_event_size=settings.max_header_bytes,
        loop="uvloop",  # measured faster than asyncio's loop (bench/RESULTS.md)
        http="httptools",  # measured faster than h11
        access_log=False,
        log_level="info",
    )


if __name__ == "__main__":
    main()
