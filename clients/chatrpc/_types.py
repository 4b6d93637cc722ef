"""Public result types of the chatrpc SDK: frozen dataclasses, no protobuf in sight."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Role(enum.StrEnum):
    """Author of a message."""

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


class FinishReason(enum.StrEnum):
    """Why the model stopped generating."""

    STOP = "stop"
    LENGTH = "length"
    TOOL_CALLS = "tool_calls"


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A complete function call requested by the model.

    Attributes:
        id: Call id ("call_" + 24 characters); a tool message answers it.
        name: Function name.
        arguments: The arguments as JSON object text.
    """

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Message:
    """One message of a conversation.

    Example:
        >>> Message(role="user", content="hello")
    """

    role: Role | str
    content: str = ""
    name: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str = ""


@dataclass(frozen=True, slots=True)
class Usage:
    """Token accounting for one turn."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Reply:
    """A whole assistant reply (what `chat()` returns).

    Attributes:
        id: Reply id ("chatcmpl-" + 24 characters).
        model: The model that produced it.
        created: Unix time (seconds) the reply started.
        thread_id: The thread the turn was stored in; empty when stateless.
        content: The assistant's text.
        tool_calls: Function calls the assistant requested.
        finish_reason: Why generation stopped.
        usage: Token accounting.
    """

    id: str
    model: str
    created: int
    thread_id: str
    content: str
    tool_calls: tuple[ToolCall, ...]
    finish_reason: FinishReason
    usage: Usage


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A fragment of a streamed tool call; `id` and `name` come on the first one of an index."""

    index: int
    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class ReplyChunk:
    """One event of a streamed reply (what `chat_stream()` yields).

    Every chunk repeats the reply's `id`, `model`, `created` and `thread_id`. `event` says
    what the chunk carries: "start" (nothing more), "delta" (`content` and/or `tool_calls`),
    "finish" (`finish_reason`) or "usage" (`usage`, always last).
    """

    event: str
    id: str
    model: str
    created: int
    thread_id: str
    content: str = ""
    tool_calls: tuple[ToolCallDelta, ...] = ()
    finish_reason: FinishReason | None = None
    usage: Usage | None = None


@dataclass(frozen=True, slots=True)
class Model:
    """A model the server can serve (what `list_models()` returns)."""

    id: str
    owned_by: str
    backend: str
    context_window: int
    ready: bool
    created: int
