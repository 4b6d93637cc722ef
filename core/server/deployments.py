"""A routed model's deployments → the contract's Deployment (names and breaker states, never
URLs or keys), for ListModels."""

from __future__ import annotations

from chatrpc.v1 import chat_service_pb2 as pb
from core.routing.breaker import State
from core.routing.deployment import Deployment

__all__ = ["Deployment", "deployment_to_pb"]

_BREAKER_PB = {
    State.CLOSED: pb.BREAKER_STATE_CLOSED,
    State.OPEN: pb.BREAKER_STATE_OPEN,
    State.HALF_OPEN: pb.BREAKER_STATE_HALF_OPEN,
}


def deployment_to_pb(deployment: Deployment, now: float) -> pb.Deployment:
    """A deployment's name and live state (never its URL or key)."""
    breaker = deployment.breaker
    opened = breaker.state is State.OPEN
    return pb.Deployment(
        name=deployment.name,
        state=_BREAKER_PB[breaker.state],
        in_flight=deployment.in_flight,
        reopens_in_seconds=max(0.0, breaker.open_until - now) if opened else 0.0,
        weight=deployment.weight,
    )
