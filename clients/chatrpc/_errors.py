"""The SDK's one error hierarchy, mapped from gRPC status + google.rpc.ErrorInfo.

Hierarchy::

    ChatServiceError                  any non-OK status
    ├── InvalidRequestError           INVALID_ARGUMENT, OUT_OF_RANGE, FAILED_PRECONDITION
    ├── AuthenticationError           UNAUTHENTICATED
    ├── PermissionDeniedError         PERMISSION_DENIED
    ├── NotFoundError                 NOT_FOUND
    ├── ConflictError                 ABORTED, ALREADY_EXISTS
    ├── RateLimitError                RESOURCE_EXHAUSTED
    ├── RequestCancelledError         CANCELLED
    ├── DeadlineExceededError         DEADLINE_EXCEEDED
    ├── UnimplementedError            UNIMPLEMENTED
    ├── UnavailableError              UNAVAILABLE
    └── InternalError                 INTERNAL, UNKNOWN, DATA_LOSS

No raw `grpc.RpcError` escapes the SDK. A status without ErrorInfo comes from gRPC itself
(a dropped or hung connection, a size limit): its `domain` is empty and, for the refusals
in TRANSPORT_REASONS, its `reason` names what was refused.
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

DOMAIN = "chatrpc"


class ChatServiceError(Exception):
    """Base of every error the SDK raises for a failed call.

    Attributes:
        code: The gRPC status code.
        message: Human-readable description from the server.
        reason: Stable machine reason from ErrorInfo (for example "MODEL_NOT_FOUND"); for a
            status gRPC raised itself, one of TRANSPORT_REASONS or the code's name.
        metadata: ErrorInfo metadata (for example {"field": "messages"}).
        retry_after: Seconds the server asked to wait before retrying, if it said.
        domain: ErrorInfo's domain ("chatrpc" from the core); empty when the status carried
            no ErrorInfo, so `message` is gRPC's own text.

    Example:
        >>> try:
        ...     client.chat(model="nope", messages="hi")
        ... except chatrpc.NotFoundError as exc:
        ...     print(exc.reason)  # MODEL_NOT_FOUND
    """

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode = grpc.StatusCode.UNKNOWN,
        reason: str = "",
        metadata: dict[str, str] | None = None,
        retry_after: float | None = None,
        domain: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.reason = reason or code.name
        self.metadata: dict[str, str] = dict(metadata or {})
        self.retry_after = retry_after
        self.domain = domain

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}({self.message!r}, code={self.code.name}, reason={self.reason!r})"


class InvalidRequestError(ChatServiceError):
    """The request was rejected as malformed or out of range; metadata["field"] names it."""


class AuthenticationError(ChatServiceError):
    """No valid API key was presented."""


class PermissionDeniedError(ChatServiceError):
    """The API key may not do this."""


class NotFoundError(ChatServiceError):
    """The model, thread, app, space or flow does not exist (for this caller)."""


class ConflictError(ChatServiceError):
    """The request conflicts with the thread's state (busy thread, reused idempotency key)."""


class RateLimitError(ChatServiceError):
    """Too many requests; see `retry_after`."""


class RequestCancelledError(ChatServiceError):
    """The call was cancelled."""


class DeadlineExceededError(ChatServiceError):
    """The call did not finish before its deadline."""


class UnimplementedError(ChatServiceError):
    """The server does not serve this method or feature."""


class UnavailableError(ChatServiceError):
    """The service or its model backend is unavailable now; retrying later may succeed."""


class InternalError(ChatServiceError):
    """The server failed unexpectedly."""


ERRORS_BY_CODE: dict[grpc.StatusCode, type[ChatServiceError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidRequestError,
    grpc.StatusCode.OUT_OF_RANGE: InvalidRequestError,
    grpc.StatusCode.FAILED_PRECONDITION: InvalidRequestError,
    grpc.StatusCode.UNAUTHENTICATED: AuthenticationError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ABORTED: ConflictError,
    grpc.StatusCode.ALREADY_EXISTS: ConflictError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: RateLimitError,
    grpc.StatusCode.CANCELLED: RequestCancelledError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.UNIMPLEMENTED: UnimplementedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.INTERNAL: InternalError,
    grpc.StatusCode.UNKNOWN: InternalError,
    grpc.StatusCode.DATA_LOSS: InternalError,
}


# gRPC's own refusals (no ErrorInfo), told apart by its message: (code, text in it) → reason.
TRANSPORT_REASONS: dict[tuple[grpc.StatusCode, str], str] = {
    (grpc.StatusCode.RESOURCE_EXHAUSTED, "message larger than max"): "MESSAGE_TOO_LARGE",
    (grpc.StatusCode.RESOURCE_EXHAUSTED, "metadata size exceeds"): "METADATA_TOO_LARGE",
}


def _transport_reason(code: grpc.StatusCode, message: str) -> str:
    lowered = message.lower()
    for (known, text), reason in TRANSPORT_REASONS.items():
        if code == known and text in lowered:
            return reason
    return ""


def from_rpc_error(error: grpc.RpcError) -> ChatServiceError:
    """The SDK error for a failed call (sync `grpc.RpcError` or `grpc.aio.AioRpcError`)."""
    code: grpc.StatusCode = error.code()
    message: str = error.details() or code.name
    reason, metadata, retry_after, domain = "", {}, None, ""
    try:
        status = rpc_status.from_call(error)
    except ValueError:  # trailers disagree with the call's status: keep the code only
        status = None
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, metadata, domain = info.reason, dict(info.metadata), info.domain
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            retry_after = retry.retry_delay.ToNanoseconds() / 1e9
    if not domain:
        reason = _transport_reason(code, message)
    cls = ERRORS_BY_CODE.get(code, ChatServiceError)
    return cls(
        message, code=code, reason=reason, metadata=metadata, retry_after=retry_after, domain=domain
    )


def trailers_of(error: grpc.RpcError) -> Iterable[tuple[str, object]] | None:
    """The trailing metadata of a failed call (a grpc.Call), if the error carries it."""
    return error.trailing_metadata() if isinstance(error, grpc.Call) else None
