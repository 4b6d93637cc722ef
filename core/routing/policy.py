"""What each upstream failure means: the router's one table (docs/routing.md copies it).

    upstream answer                                  retried                counts against it
    connection refused/reset, 500/502/503/504,       elsewhere              a failure
      timeouts, no first token in first_token_timeout
    429                                              elsewhere              cooled for Retry-After
                                                                            (else `cooldown`)
    401, 403 (our key), 404 (model or route)         elsewhere              opened at once
    context length (400 naming it)                   context fallbacks      nothing
    content filter, any other 4xx (a bad request)    no                     nothing

The backend classifies its own failures into domain errors once (core/backends/openai_compat:
the status in `upstream_status`, an allow-listed code in `upstream_code`, the upstream's
Retry-After in `retry_after`); `classify` reads those, never the upstream's text.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from core.errors import (
    BackendTimeoutError,
    BackendUnavailableError,
    ChatError,
    ContextLengthExceededError,
    ResourceExhaustedError,
)


class Outcome(enum.StrEnum):
    """An attempt's result class (also the `outcome` label of chatrpc_upstream_attempts_total)."""

    OK = "ok"
    FAILURE = "failure"
    RATE_LIMITED = "rate_limited"
    MISCONFIGURED = "misconfigured"
    CONTEXT = "context"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class Retry(enum.Enum):
    """Where a failed attempt goes next."""

    ELSEWHERE = enum.auto()  # another deployment, then the fallback models
    CONTEXT_FALLBACKS = enum.auto()  # the model's context_window_fallbacks only
    NO = enum.auto()  # the error is the answer


class Effect(enum.Enum):
    """What a failed attempt does to its deployment's breaker."""

    FAILURE = enum.auto()  # one more consecutive failure (opens at `failures`)
    COOL = enum.auto()  # open for the upstream's Retry-After, else `cooldown`
    OPEN = enum.auto()  # open at once (misconfigured: no retry will mend it)
    NONE = enum.auto()  # the request's fault: the deployment is fine


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of the policy."""

    retry: Retry
    effect: Effect


POLICY: Final[Mapping[Outcome, Rule]] = {
    Outcome.FAILURE: Rule(Retry.ELSEWHERE, Effect.FAILURE),
    Outcome.RATE_LIMITED: Rule(Retry.ELSEWHERE, Effect.COOL),
    Outcome.MISCONFIGURED: Rule(Retry.ELSEWHERE, Effect.OPEN),
    Outcome.CONTEXT: Rule(Retry.CONTEXT_FALLBACKS, Effect.NONE),
    Outcome.REJECTED: Rule(Retry.NO, Effect.NONE),
}

_MISCONFIGURED_STATUS: Final = frozenset({"401", "403", "404"})


def classify(error: ChatError) -> Outcome:
    """The policy row of a failed attempt's domain error."""
    status = error.metadata.get("upstream_status", "")
    if isinstance(error, ContextLengthExceededError) or (
        error.metadata.get("upstream_code") == "context_length_exceeded"
    ):
        return Outcome.CONTEXT
    if status == "429" or (isinstance(error, ResourceExhaustedError) and status):
        return Outcome.RATE_LIMITED
    if status in _MISCONFIGURED_STATUS:
        return Outcome.MISCONFIGURED
    if isinstance(error, BackendUnavailableError | BackendTimeoutError):
        return Outcome.FAILURE
    return Outcome.REJECTED


def retry_after(error: ChatError) -> float | None:
    """The seconds the upstream asked us to wait, when it said."""
    value = getattr(error, "retry_after", None)
    return value if isinstance(value, float | int) else None
