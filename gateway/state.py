"""Per-app state the routes share: the SDK client to the core and the call deadline."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

import chatrpc
from gateway.settings import Settings


@dataclass(slots=True)
class GatewayState:
    """Owned by create_app's lifespan; reachable from every request as app.state.gateway."""

    settings: Settings
    client: chatrpc.AsyncClient


def gateway_state(request: Request) -> GatewayState:
    state: GatewayState = request.app.state.gateway
    return state


def core_client(request: Request) -> tuple[chatrpc.AsyncClient, float]:
    """The AsyncClient to the core and the deadline (seconds) for one call."""
    state = gateway_state(request)
    return state.client, state.settings.call_timeout
