"""chatrpc: the Python SDK for the chatrpc gRPC ChatService (sync `Client`, async `AsyncClient`).

Example:
    >>> import chatrpc
    >>> with chatrpc.Client("127.0.0.1:50051") as client:
    ...     print(client.chat("hello", max_tokens=32).content)
    ...     request = chatrpc.ChatRequest(
    ...         messages=[chatrpc.Message("user", "hello")],
    ...         generation_config=chatrpc.GenerationConfig(temperature=0.2),
    ...     )
    ...     for event in client.chat_stream(request):
    ...         if isinstance(event, chatrpc.MessageDelta):
    ...             print(event.content, end="")
"""

from chatrpc._admin import AsyncAdminClient, KeyWithSecret, VirtualKey
from chatrpc._async_client import AsyncClient
from chatrpc._background import BackgroundChat, BackgroundEvent, BackgroundStatus
from chatrpc._base import TurnOptions
from chatrpc._channel import replica_service_config, replica_target
from chatrpc._client import Client
from chatrpc._data import Erasure, SpendReport
from chatrpc._deployments import Deployment
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
from chatrpc._mcp import (
    McpApprovalMode,
    McpApprovalResponse,
    McpItem,
    McpItemStatus,
    McpItemType,
    McpTool,
    McpToolInfo,
)
from chatrpc._types import (
    CallHooks,
    ChatMode,
    ChatRequest,
    Choice,
    ContentPart,
    Document,
    Embedding,
    Embeddings,
    FinishReason,
    GenerationConfig,
    Message,
    MessageDelta,
    Model,
    Reply,
    ResponseFormat,
    ResponseFormatType,
    Role,
    Source,
    Space,
    StoredTurn,
    StreamEvent,
    StreamFinish,
    StreamStart,
    Thread,
    ThreadMessage,
    ThreadPage,
    TokenLogprob,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    ToolChoiceMode,
    TopLogprob,
    Usage,
)

__all__ = [
    "AsyncAdminClient",
    "AsyncClient",
    "AuthenticationError",
    "BackgroundChat",
    "BackgroundEvent",
    "BackgroundStatus",
    "CallHooks",
    "ChatMode",
    "ChatRequest",
    "ChatServiceError",
    "Choice",
    "Client",
    "ConflictError",
    "ContentPart",
    "DeadlineExceededError",
    "Deployment",
    "Document",
    "Embedding",
    "Embeddings",
    "Erasure",
    "FinishReason",
    "GenerationConfig",
    "InternalError",
    "InvalidRequestError",
    "KeyWithSecret",
    "McpApprovalMode",
    "McpApprovalResponse",
    "McpItem",
    "McpItemStatus",
    "McpItemType",
    "McpTool",
    "McpToolInfo",
    "Message",
    "MessageDelta",
    "Model",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "Reply",
    "RequestCancelledError",
    "ResponseFormat",
    "ResponseFormatType",
    "Role",
    "Source",
    "Space",
    "SpendReport",
    "StoredTurn",
    "StreamEvent",
    "StreamFinish",
    "StreamStart",
    "Thread",
    "ThreadMessage",
    "ThreadPage",
    "TokenLogprob",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ToolChoice",
    "ToolChoiceMode",
    "TopLogprob",
    "TurnOptions",
    "UnavailableError",
    "UnimplementedError",
    "Usage",
    "VirtualKey",
    "replica_service_config",
    "replica_target",
]
