"""Deployment: one upstream deployment of a routed model (`Model.deployments`), and its
conversion from the contract."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from chatrpc.v1 import chat_service_pb2 as pb

_STATES = {
    pb.BREAKER_STATE_CLOSED: "closed",
    pb.BREAKER_STATE_OPEN: "open",
    pb.BREAKER_STATE_HALF_OPEN: "half_open",
}


@dataclass(frozen=True, slots=True)
class Deployment:
    """One upstream deployment of a routed model, as the answering core replica sees it.

    Attributes:
        name: The deployment's name in the server's catalog (never its URL).
        state: Its circuit breaker: "closed", "open" or "half_open".
        in_flight: Attempts in flight on it in that replica.
        reopens_in: Seconds until an open breaker lets a probe through; 0 unless open.
        weight: Its share of traffic under the weighted strategy.

    Example:
        >>> for model in client.list_models():
        ...     print(model.id, [(d.name, d.state) for d in model.deployments])
    """

    name: str
    state: str
    in_flight: int = 0
    reopens_in: float = 0.0
    weight: float = 1.0


def deployments_from_pb(deployments: Iterable[pb.Deployment]) -> tuple[Deployment, ...]:
    return tuple(
        Deployment(d.name, _STATES.get(d.state, ""), d.in_flight, d.reopens_in_seconds, d.weight)
        for d in deployments
    )
