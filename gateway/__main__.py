"""`python -m gateway`: uvicorn serving create_app(Settings.from_env())."""

from __future__ import annotations

import uvicorn

from gateway.app import create_app
from gateway.http.connections import uvicorn_options
from gateway.settings import Settings
from observability import metrics
from observability.logs import configure_logging
from observability.tracing import configure_tracing


def main() -> None:
    settings = Settings.from_env()
    configure_logging(settings.log_format, access=settings.access_log)
    metrics.record(settings.metrics)
    configure_tracing("chatrpc-gateway", settings.otel_environ)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",  # measured faster than asyncio's loop (bench/RESULTS.md)
        # httptools (measured faster than h11, and strict where h11 is lenient) held to the
        # connection limits: see gateway/http/connections.py.
        **uvicorn_options(settings),
        access_log=False,  # gateway.access logs each request with its id (http/observability.py)
        log_config=None,  # uvicorn's records go to the root handler (text or JSON)
        log_level="info",
    )


if __name__ == "__main__":
    main()
