"""chatrpc: the Python SDK for the chatrpc gRPC ChatService (sync `Client`, async `AsyncClient`).

Example:
    >>> import chatrpc
    >>> with chatrpc.Client("127.0.0.1:50051") as client:
    ...     print(client.chat("hello", max_tokens=32).content)
"""

from chatrpc._async_client import AsyncClient
from chatrpc._base import TurnOptions
from chatrpc._client import Client
from chatrpc._errors import (
    AuthenticationError,
    ChatServiceError,
    ConflictError,
    DeadlineExceededError,
    InternalError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestCancelledError,
    UnavailableError,
    UnimplementedError,
)
from chatrpc._types import (
    Document,
    FinishReason,
    Message,
    Model,
    Reply,
    ReplyChunk,
    Role,
    Source,
    Space,
    Thread,
    ThreadMessage,
    ThreadPage,
    ToolCall,
    ToolCallDelta,
    Usage,
)

__all__ = [
    "AsyncClient",
    "AuthenticationError",
    "ChatServiceError",
    "Client",
    "ConflictError",
    "DeadlineExceededError",
    "Document",
    "FinishReason",
    "InternalError",
    "InvalidRequestError",
    "Message",
    "Model",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "Reply",
    "ReplyChunk",
    "RequestCancelledError",
    "Role",
    "Source",
    "Space",
    "Thread",
    "ThreadMessage",
    "ThreadPage",
    "ToolCall",
    "ToolCallDelta",
    "TurnOptions",
    "UnavailableError",
    "UnimplementedError",
    "Usage",
]
