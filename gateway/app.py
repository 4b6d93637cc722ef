"""create_app(settings, client=None) -> FastAPI: routes, error handlers, the SDK client's life."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import chatrpc
from gateway import __version__
from gateway.errors import install_handlers
from gateway.routes import chat_completions, models, service, threads
from gateway.settings import Settings
from gateway.state import GatewayState


def create_app(
    settings: Settings | None = None, client: chatrpc.AsyncClient | None = None
) -> FastAPI:
    """The gateway app. Without `client`, the lifespan opens an AsyncClient to the core."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = client is None
        core = client or chatrpc.AsyncClient(settings.core_target)
        app.state.gateway = GatewayState(settings=settings, client=core)
        try:
            yield
        finally:
            if own:
                await core.close()

    app = FastAPI(
        title="chatrpc gateway",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_handlers(app)
    for module in (chat_completions, models, service, threads):
        app.include_router(module.router)
    return app
