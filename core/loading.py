"""Loading the catalog's models: each entry's backend built off the event loop and attached,
a Router over the deployments of a routed model (core/routing), at start-up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import replace

from core.backends import create_backend
from core.catalog import ModelCatalog, ModelSpec, resolve_key
from core.errors import (
    ChatError,
    ModelNotConfiguredError,
    ModelNotReadyError,
)
from core.routing.breaker import Breaker
from core.routing.config import DeploymentSpec, RouteSpec
from core.routing.deployment import Deployment
from core.routing.health import HealthChecks
from core.routing.router import Router
from core.routing.shared import SharedBreakers

logger = logging.getLogger(__name__)


async def load_models(
    catalog: ModelCatalog, environ: Mapping[str, str], redis_url: str = ""
) -> None:
    """Builds every model's backend off the event loop and attaches it to the catalog.

    A model whose API-key variable is unset is marked not configured; the default model
    failing to load stops the server, any other model failing is marked unavailable. A model
    with routing tables (or named as another's fallback) is served by a Router over its
    deployments, whose breakers are shared through Redis when `redis_url` is set and whose
    deployments are probed when it sets `health_check_interval`.
    """
    fallbacks = {
        n
        for s in catalog
        if s.route
        for n in (*s.route.fallbacks, *s.route.context_window_fallbacks)
    }
    if redis_url and any(s.route or s.name in fallbacks for s in catalog):
        catalog.shared = SharedBreakers(redis_url)
    for spec in catalog:
        if spec.route is not None or spec.name in fallbacks:
            await _load_routed(catalog, spec, environ)
            continue
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
    routed = [b for s in catalog if isinstance(b := catalog._backends.get(s.name), Router)]
    catalog.health = HealthChecks(routed)
    catalog.health.start()


async def _load_routed(catalog: ModelCatalog, spec: ModelSpec, environ: Mapping[str, str]) -> None:
    """A Router over the deployments of `spec` whose keys are set and whose backends load."""
    route = spec.route or RouteSpec()
    deployments: list[Deployment] = []
    missing_keys: list[str] = []
    for plan in route.deployments or (DeploymentSpec(name=spec.name),):
        options = {**spec.options, **plan.options}
        if route.routing.idle_timeout:
            options.setdefault("idle_timeout", route.routing.idle_timeout)
        options, missing = resolve_key(replace(spec, options=options), environ)
        if missing:
            missing_keys.append(missing)
            logger.info(
                "model %s deployment %s not configured (set %s)", spec.name, plan.name, missing
            )
            continue
        try:
            backend = await asyncio.to_thread(create_backend, spec.backend, options)
        except ChatError as exc:
            logger.error(
                "model %s deployment %s failed to load: %s", spec.name, plan.name, exc.message
            )
            continue
        deployments.append(
            Deployment(
                plan.name,
                backend,
                Breaker(route.breaker),
                plan.weight,
                plan.max_in_flight,
                plan.context_window,
            )
        )
    if not deployments:
        message = f"The model {spec.name!r} has no deployment that loaded."
        if missing_keys:
            message = (
                f"The model {spec.name!r} needs an API key: set {missing_keys[0]} for the core."
            )
            catalog.mark_unready(spec.name, ModelNotConfiguredError(message, model=spec.name))
        else:
            catalog.mark_unready(spec.name, ModelNotReadyError(message, model=spec.name))
        return
    shared = catalog.shared
    router = Router(
        spec.name,
        deployments,
        route.routing,
        fallbacks=route.fallbacks,
        context_fallbacks=route.context_window_fallbacks,
        resolve=catalog.backend,
        publish=shared.publish if shared is not None else None,
    )
    if shared is not None:
        for deployment in deployments:
            shared.watch(spec.name, deployment)
        shared.start()
    catalog.attach(spec.name, router)
    logger.info("model %s ready: %d deployments", spec.name, len(deployments))
