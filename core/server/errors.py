"""ChatError → gRPC status + google.rpc.ErrorInfo, the code read off the error's branch of
core/errors.py's tree (no table restates it here).

Clients balancing over replicas retry UNAVAILABLE before the first reply message
(chatrpc.replica_service_config): for a replica that died, or one whose model is still
loading. Every other UNAVAILABLE this core sends itself (the upstream is down, the database
failed, perhaps mid-commit) says `grpc-retry-pushback-ms: -1`, which tells gRPC not to retry:
another replica shares the same upstream and database, and the turn may have run already.
"""

from __future__ import annotations

import logging
from collections import namedtuple
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, cast

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from core import errors
from core.storage.failures import is_driver_failure

logger = logging.getLogger(__name__)

DOMAIN = "chatrpc"
NO_RETRY = ("grpc-retry-pushback-ms", "-1")  # gRPC's retry filter: do not retry this call
STORAGE_UNAVAILABLE = "A database cannot be reached now; try again shortly."
RETRIED_ELSEWHERE: tuple[type[errors.ChatError], ...] = (errors.ModelNotReadyError,)


class _Status(namedtuple("_Status", ("code", "details", "trailing_metadata")), grpc.Status):
    """A grpc.Status with our own trailing metadata (grpc_status builds its own privately)."""


def status_code_for(error: errors.ChatError) -> grpc.StatusCode:
    """The gRPC code of the error's canonical status: core/errors.py's tree is the table."""
    return grpc.StatusCode[error.status]


def error_to_status(error: errors.ChatError) -> grpc.Status:
    """The rich status for a domain error: ErrorInfo always, BadRequest and RetryInfo if apt."""
    code = status_code_for(error)
    details = [
        _pack(
            error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN, metadata=error.metadata)
        )
    ]
    if isinstance(error, errors.InvalidArgumentError):
        violation = error_details_pb2.BadRequest.FieldViolation(
            field=error.field, description=error.message
        )
        details.append(_pack(error_details_pb2.BadRequest(field_violations=[violation])))
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(retry_after * 1e9))
        details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    status = status_pb2.Status(code=code.value[0], message=error.message, details=details)
    rich = cast(grpc.Status, rpc_status.to_status(status))
    if code is not grpc.StatusCode.UNAVAILABLE or isinstance(error, RETRIED_ELSEWHERE):
        return rich
    return _Status(rich.code, rich.details, (*rich.trailing_metadata, NO_RETRY))


def internal_status() -> grpc.Status:
    """The status for an unexpected exception: generic message, no traceback."""
    info = error_details_pb2.ErrorInfo(reason="INTERNAL", domain=DOMAIN)
    status = status_pb2.Status(
        code=code_pb2.INTERNAL, message="Internal server error.", details=[_pack(info)]
    )
    return cast(grpc.Status, rpc_status.to_status(status))


Trailers = Callable[[grpc.StatusCode, errors.ChatError | None], Sequence[tuple[str, str]]]


def _no_trailers(
    code: grpc.StatusCode, error: errors.ChatError | None
) -> Sequence[tuple[str, str]]:
    return ()


@asynccontextmanager
async def status_on_error(
    context: grpc.aio.ServicerContext[Any, Any], trailers: Trailers = _no_trailers
) -> AsyncIterator[None]:
    """Turns exceptions raised inside an RPC into its status (used by every RPC); `trailers`
    hears the code (and the domain error) first and adds its trailing metadata."""
    try:
        yield
    except grpc.aio.AbortError:
        raise
    except Exception as exc:
        await abort_on(context, exc, trailers)


async def abort_on(
    context: grpc.aio.ServicerContext[Any, Any], exc: Exception, trailers: Trailers = _no_trailers
) -> None:
    """Ends the call with the status for `exc`, raised inside it (not an AbortError): a domain
    error's own, else a generic INTERNAL (the exception logged). Raises AbortError."""
    if isinstance(exc, errors.ChatError):
        await _abort(context, error_to_status(exc), trailers(status_code_for(exc), exc))
    elif is_driver_failure(exc):  # one a store did not map: still retryable, not INTERNAL
        logger.warning("storage driver failure: %s", type(exc).__name__)
        error = errors.StorageError(STORAGE_UNAVAILABLE)
        await _abort(context, error_to_status(error), trailers(status_code_for(error), error))
    else:
        logger.error("unexpected error in %s", type(context).__name__, exc_info=exc)
        await _abort(context, internal_status(), trailers(grpc.StatusCode.INTERNAL, None))


async def _abort(
    context: grpc.aio.ServicerContext[Any, Any],
    status: grpc.Status,
    extra: Sequence[tuple[str, str]],
) -> None:
    await context.abort(status.code, status.details, (*status.trailing_metadata, *extra))


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed
