"""Domain errors: every error the pipeline raises on purpose, with a stable reason (AIP-193).

A tree: each branch below ChatError is one canonical status (google.rpc.Code, by name), and
its leaves say why (`reason`). A class knows its `status` by inheriting it, so the gRPC edge
(core/server/errors.py) derives its table from the tree instead of restating it.

    class                               status               reason
    ChatError                           INTERNAL             INTERNAL
    ├── ConfigError                                          CONFIG_ERROR
    ├── InvalidArgumentError            INVALID_ARGUMENT     INVALID_ARGUMENT
    │   └── ContextLengthExceededError                       CONTEXT_LENGTH_EXCEEDED
    ├── FailedPreconditionError         FAILED_PRECONDITION  FAILED_PRECONDITION
    │   ├── TurnNotLatestError                               TURN_NOT_LATEST
    │   ├── ModelNotConfiguredError                          MODEL_NOT_CONFIGURED
    │   └── BackendError                                     BACKEND_ERROR
    ├── NotFoundError                   NOT_FOUND            NOT_FOUND (apps, spaces, flows)
    │   ├── ModelNotFoundError                               MODEL_NOT_FOUND
    │   ├── ThreadNotFoundError                              THREAD_NOT_FOUND
    │   └── TurnNotFoundError                                TURN_NOT_FOUND
    ├── ConflictError                   ABORTED              CONFLICT
    │   ├── ThreadBusyError                                  THREAD_BUSY
    │   ├── IdempotencyKeyReusedError                        IDEMPOTENCY_KEY_REUSED
    │   ├── ThreadChangedError                               THREAD_CHANGED
    │   └── ThreadExistsError                                THREAD_EXISTS
    ├── UnauthenticatedError            UNAUTHENTICATED      UNAUTHENTICATED
    ├── PermissionDeniedError           PERMISSION_DENIED    PERMISSION_DENIED
    ├── ResourceExhaustedError          RESOURCE_EXHAUSTED   RATE_LIMITED
    │   ├── BudgetExceededError                              BUDGET_EXCEEDED
    │   └── OverloadedError                                  OVERLOADED
    ├── UnimplementedError              UNIMPLEMENTED        UNIMPLEMENTED
    ├── UnavailableError                UNAVAILABLE          UNAVAILABLE
    │   ├── ModelNotReadyError                               MODEL_NOT_READY
    │   ├── BackendUnavailableError                          BACKEND_UNAVAILABLE
    │   ├── ReplicaLostError                                 REPLICA_LOST
    │   └── StorageError                                     STORAGE_UNAVAILABLE
    └── DeadlineExceededError           DEADLINE_EXCEEDED    DEADLINE_EXCEEDED
        └── BackendTimeoutError                              BACKEND_TIMEOUT

No transport is imported here: core/server/errors.py maps `status` to gRPC once.
"""

from __future__ import annotations

from typing import ClassVar


class ChatError(Exception):
    """Base for every error the chat pipeline raises on purpose.

    `message` is safe to show a client; `metadata` travels in ErrorInfo (for example the
    offending `field`), so it must never carry secrets or prompt text.
    """

    status: ClassVar[str] = "INTERNAL"  # the canonical code's name (google.rpc.Code)
    reason: ClassVar[str] = "INTERNAL"

    def __init__(self, message: str, **metadata: str) -> None:
        super().__init__(message)
        self.message = message
        self.metadata: dict[str, str] = dict(metadata)


class InvalidArgumentError(ChatError):
    """The request is malformed or out of range; `field` names the offending field."""

    status = reason = "INVALID_ARGUMENT"

    def __init__(self, message: str, *, field: str, **metadata: str) -> None:
        super().__init__(message, field=field, **metadata)
        self.field = field


class ContextLengthExceededError(InvalidArgumentError):
    """The prompt plus the requested reply does not fit the model's context window."""

    reason = "CONTEXT_LENGTH_EXCEEDED"


class UnimplementedError(ChatError):
    """The request uses a feature this server or model does not serve (yet)."""

    status = reason = "UNIMPLEMENTED"


class NotFoundError(ChatError):
    """A named app, knowledge space or flow does not exist."""

    status = reason = "NOT_FOUND"


class ModelNotFoundError(NotFoundError):
    """No model of that name is in the catalog."""

    reason = "MODEL_NOT_FOUND"


class ThreadNotFoundError(NotFoundError):
    """No thread of that id belongs to the caller (another owner's thread looks absent)."""

    reason = "THREAD_NOT_FOUND"


class TurnNotFoundError(NotFoundError):
    """No stored turn of that id belongs to the caller (another owner's turn looks absent)."""

    reason = "TURN_NOT_FOUND"


class ConflictError(ChatError):
    """The request conflicts with the thread's state; the subclass reason says how."""

    status, reason = "ABORTED", "CONFLICT"


class ThreadBusyError(ConflictError):
    """Another turn is running on the thread and the wait for it ran out."""

    reason = "THREAD_BUSY"


class IdempotencyKeyReusedError(ConflictError):
    """An idempotency key was reused with a different request body."""

    reason = "IDEMPOTENCY_KEY_REUSED"


class ThreadChangedError(ConflictError):
    """The thread gained a turn (from another replica) while this turn was generated."""

    reason = "THREAD_CHANGED"


class FailedPreconditionError(ChatError):
    """The system is not in the state the request needs; the subclass reason says which."""

    status = reason = "FAILED_PRECONDITION"


class TurnNotLatestError(FailedPreconditionError):
    """The turn is not its thread's latest: a linear thread can neither be continued from an
    earlier turn (no branching) nor lose a turn that later turns were generated from."""

    reason = "TURN_NOT_LATEST"


class ThreadExistsError(ConflictError):
    """A thread with the id to create already exists (the caller's own: ids are per owner)."""

    reason = "THREAD_EXISTS"


class UnauthenticatedError(ChatError):
    """No valid API key was presented."""

    status = reason = "UNAUTHENTICATED"


class ResourceExhaustedError(ChatError):
    """Too many requests; `retry_after` is in seconds."""

    status, reason = "RESOURCE_EXHAUSTED", "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after: float | None = None, **metadata: str) -> None:
        if retry_after is not None:
            metadata["retry_after"] = f"{retry_after:g}"
        super().__init__(message, **metadata)
        self.retry_after = retry_after


class BudgetExceededError(ResourceExhaustedError):
    """The key has spent its budget (metadata: `budget` names it, `resets_at` says when, UTC)."""

    reason = "BUDGET_EXCEEDED"


class PermissionDeniedError(ChatError):
    """A valid key that may not do this (a model outside its list, the admin API)."""

    status = reason = "PERMISSION_DENIED"


class OverloadedError(ResourceExhaustedError):
    """The server (or the model's queue) is full right now: not the caller's quota."""

    reason = "OVERLOADED"


class ModelNotConfiguredError(FailedPreconditionError):
    """The model is in the catalog but the server lacks what it needs (an API key variable)."""

    reason = "MODEL_NOT_CONFIGURED"


class UnavailableError(ChatError):
    """Something the turn needs cannot serve now; retrying later may succeed."""

    status = reason = "UNAVAILABLE"


class ModelNotReadyError(UnavailableError):
    """The model is configured but cannot serve now (loading, or a key is missing)."""

    reason = "MODEL_NOT_READY"


class BackendUnavailableError(UnavailableError):
    """The model backend failed or cannot be reached; retrying later may succeed, after
    `retry_after` seconds when the upstream (or the router, every deployment being open)
    said how long."""

    reason = "BACKEND_UNAVAILABLE"

    def __init__(self, message: str, *, retry_after: float | None = None, **metadata: str) -> None:
        if retry_after is not None:
            metadata["retry_after"] = f"{retry_after:g}"
        super().__init__(message, **metadata)
        self.retry_after = retry_after


class ReplicaLostError(UnavailableError):
    """The replica running a background turn stopped (its lease expired) before the turn
    finished; nothing of it was stored as complete."""

    reason = "REPLICA_LOST"


class DeadlineExceededError(ChatError):
    """The call's deadline (the client's, or the server's maximum) passed before the reply
    was complete; generation stopped and nothing of the turn was stored."""

    status = reason = "DEADLINE_EXCEEDED"


class BackendTimeoutError(DeadlineExceededError):
    """The model backend did not answer in time."""

    reason = "BACKEND_TIMEOUT"


class BackendError(FailedPreconditionError):
    """The model backend rejected the request (not retryable)."""

    reason = "BACKEND_ERROR"


class ConfigError(ChatError):
    """The server's configuration is invalid; raised at start-up."""

    reason = "CONFIG_ERROR"


class StorageError(UnavailableError):
    """Thread memory cannot be read or written now; retrying later may succeed."""

    reason = "STORAGE_UNAVAILABLE"


def error_for_reason(reason: str, message: str) -> ChatError:
    """The error of the class whose `reason` this is, with `message` (a stored failure, such as
    a background turn's, raised again for its watchers); a generic ChatError if none matches
    or the class needs more than a message."""
    pending: list[type[ChatError]] = [ChatError]
    while pending:
        cls = pending.pop()
        if cls.reason == reason:
            try:
                return cls(message)
            except TypeError:  # InvalidArgumentError needs its field, which is not stored
                break
        pending.extend(cls.__subclasses__())
    return ChatError(message)
