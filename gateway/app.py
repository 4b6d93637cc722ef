"""create_app(settings, client=None) -> FastAPI: routes, error handlers, the SDK client's life."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, cast

from fastapi import Depends, FastAPI
from starlette.types import ASGIApp
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

import chatrpc
from gateway import __version__, openapi
from gateway.admin import routes as admin_face
from gateway.dbgpt import routes as dbgpt_face
from gateway.http import deployments, service
from gateway.http.context import GatewayState, request_context
from gateway.http.handlers import install_handlers
from gateway.http.observability import CoreHooks, observed
from gateway.http.throttle import BadKeyThrottle
from gateway.openai import routes as openai_face
from gateway.playground import page as playground
from gateway.settings import Settings
from gateway.threads import routes as threads_face
from observability.metrics import MetricsServer

if TYPE_CHECKING:
    from uvicorn._types import ASGI3Application


class GatewayApp(FastAPI):
    """FastAPI with the request observer outermost (gateway.http.observability): every response,
    a 500 from the error middleware included, carries the request id and is counted. Around
    it, the client's address is taken from X-Forwarded-For when the peer is a trusted proxy
    (uvicorn's middleware: the right-most address that is not a trusted proxy, so entries a
    client wrote on the left never count), for the throttle, the logs and every other use."""

    trusted_proxies: tuple[str, ...] = ()

    def build_middleware_stack(self) -> ASGIApp:
        observed_app = observed(super().build_middleware_stack(), self.router.routes)
        # uvicorn types an ASGI app by its own TypedDicts, Starlette by plain mappings.
        inner = cast("ASGI3Application", observed_app)
        return cast(
            ASGIApp, ProxyHeadersMiddleware(inner, trusted_hosts=list(self.trusted_proxies))
        )


def open_core_client(settings: Settings) -> chatrpc.AsyncClient:
    """The SDK client to the core: balanced over its replicas (round_robin, client-side health
    checks, retries of UNAVAILABLE before the first reply), keepalive pings (a hung core fails
    calls in about keepalive + timeout seconds, not at their deadlines) and TLS as configured."""
    tls = settings.core_tls
    return chatrpc.AsyncClient(
        settings.core_target,
        service_config=chatrpc.replica_service_config(),
        keepalive=settings.core_keepalive,
        keepalive_timeout=settings.core_keepalive_timeout,
        tls=tls.enabled,
        root_certificates=_pem(tls.ca_file),
        certificate_chain=_pem(tls.cert_file),
        private_key=_pem(tls.key_file),
        hooks=CoreHooks(),  # request ids and trace context go along (gateway.http.observability)
    )


def _pem(path: str) -> bytes | None:
    return Path(path).read_bytes() if path else None


def create_app(
    settings: Settings | None = None, client: chatrpc.AsyncClient | None = None
) -> FastAPI:
    """The gateway app. Without `client`, the lifespan opens an AsyncClient to the core (with
    CoreHooks: request ids and trace context go along); it also starts the Prometheus
    exporter when `settings.metrics_port` is set."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = client is None
        core = client or open_core_client(settings)
        throttle = BadKeyThrottle(settings.bad_keys_per_minute)
        exporter = None
        if settings.metrics_port is not None:
            exporter = MetricsServer(settings.metrics_host, settings.metrics_port)
        app.state.gateway = GatewayState(
            settings=settings, client=core, throttle=throttle, metrics=exporter
        )
        try:
            yield
        finally:
            if exporter is not None:
                exporter.close()
            if own:
                await core.close()

    app = GatewayApp(
        title="chatrpc gateway",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        # No unauthenticated schema dump (reference/reliability.md S15): /openapi.json and
        # /docs are gateway/openapi.py's, behind the key.
        openapi_url=None,
        redirect_slashes=False,  # one spelling per route; `/v1/models/` is 404, not a redirect
        # FastAPI's own OpenTelemetry spans are the gateway's (gateway/http/observability.py); its
        # OTel log records of validation failures would carry request values: off.
        telemetry={"logs": False},
    )
    app.trusted_proxies = settings.trusted_proxies
    install_handlers(app)
    app.include_router(service.router)  # the unauthenticated allowlist: /, /health, /ready
    app.include_router(playground.router)  # static files; its requests to /v1 carry a key
    # Each face is one router; every route in them takes the request's context, the API-key
    # check included (the OpenAPI document's too).
    for face in (openai_face, dbgpt_face, threads_face, deployments, openapi):
        app.include_router(face.router, dependencies=[Depends(request_context)])
    if settings.admin_routes:  # the admin face: off unless asked, out of OpenAPI unless asked
        app.include_router(
            admin_face.router,
            dependencies=[Depends(request_context)],
            include_in_schema=settings.admin_in_openapi,
        )
    return app
