"""Each domain error → gRPC status + ErrorInfo (core) → the SDK exception class (clients)."""

from __future__ import annotations

import grpc
import pytest

import chatrpc
from core import errors
from tests.clients.events import kinds
from tests.servers import CoreThread

CASES = [
    (
        errors.InvalidArgumentError("bad", field="x"),
        grpc.StatusCode.INVALID_ARGUMENT,
        chatrpc.InvalidRequestError,
    ),
    (
        errors.ContextLengthExceededError("long", field="messages"),
        grpc.StatusCode.INVALID_ARGUMENT,
        chatrpc.InvalidRequestError,
    ),
    (errors.UnimplementedError("later"), grpc.StatusCode.UNIMPLEMENTED, chatrpc.UnimplementedError),
    (errors.ModelNotFoundError("m"), grpc.StatusCode.NOT_FOUND, chatrpc.NotFoundError),
    (errors.ThreadNotFoundError("t"), grpc.StatusCode.NOT_FOUND, chatrpc.NotFoundError),
    (errors.NotFoundError("app"), grpc.StatusCode.NOT_FOUND, chatrpc.NotFoundError),
    (errors.ThreadBusyError("busy"), grpc.StatusCode.ABORTED, chatrpc.ConflictError),
    (errors.IdempotencyKeyReusedError("reused"), grpc.StatusCode.ABORTED, chatrpc.ConflictError),
    (
        errors.UnauthenticatedError("who"),
        grpc.StatusCode.UNAUTHENTICATED,
        chatrpc.AuthenticationError,
    ),
    (
        errors.ResourceExhaustedError("slow down", retry_after=2.5),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        chatrpc.RateLimitError,
    ),
    (errors.ModelNotReadyError("loading"), grpc.StatusCode.UNAVAILABLE, chatrpc.UnavailableError),
    (errors.BackendUnavailableError("down"), grpc.StatusCode.UNAVAILABLE, chatrpc.UnavailableError),
    (
        errors.BackendTimeoutError("slow"),
        grpc.StatusCode.DEADLINE_EXCEEDED,
        chatrpc.DeadlineExceededError,
    ),
    (
        errors.BackendError("rejected"),
        grpc.StatusCode.FAILED_PRECONDITION,
        chatrpc.InvalidRequestError,
    ),
    (errors.StorageError("db"), grpc.StatusCode.UNAVAILABLE, chatrpc.UnavailableError),
    (errors.ChatError("plain"), grpc.StatusCode.INTERNAL, chatrpc.InternalError),
]


@pytest.mark.parametrize(
    ("error", "code", "sdk_class"), CASES, ids=[type(c[0]).__name__ for c in CASES]
)
def test_domain_error_reaches_the_sdk_as_its_class(
    core_server: CoreThread, scripted, error, code, sdk_class
):
    scripted.enqueue(["partial"], error=error)
    received = []
    with chatrpc.Client(core_server.target) as client:
        with pytest.raises(sdk_class) as unary:
            client.chat("hello")
        scripted.enqueue(["partial"], error=error)
        with pytest.raises(sdk_class) as streamed:
            received.extend(client.chat_stream("hello"))
    assert kinds(received) == ["start", "delta"]
    for caught in (unary, streamed):
        assert isinstance(caught.value, chatrpc.ChatServiceError)
        assert caught.value.code == code
        assert caught.value.reason == error.reason
        assert caught.value.message == error.message
    if isinstance(error, errors.ResourceExhaustedError):
        assert unary.value.retry_after == pytest.approx(2.5)


def test_every_status_code_maps_to_a_subclass():
    from chatrpc._errors import ERRORS_BY_CODE

    for code in grpc.StatusCode:
        if code is grpc.StatusCode.OK:
            continue
        assert issubclass(ERRORS_BY_CODE[code], chatrpc.ChatServiceError), code
