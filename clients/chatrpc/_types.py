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
class Source:
    """A knowledge chunk a reply was given; replies cite them as [1], [2], … in this order."""

    chunk_id: str
    document_id: str
    source: str
    title: str
    score: float
    text: str


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
        trimmed: How many of the thread's oldest messages were left out of the prompt to fit
            the model's context window (they stay stored).
        sources: The knowledge chunks the prompt was given (knowledge mode, or an app or flow
            that retrieves).
    """

    id: str
    model: str
    created: int
    thread_id: str
    content: str
    tool_calls: tuple[ToolCall, ...]
    finish_reason: FinishReason
    usage: Usage
    trimmed: int = 0
    sources: tuple[Source, ...] = ()


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

    Every chunk repeats the reply's `id`, `model`, `created`, `thread_id`, `trimmed` (stored
    messages left out of the prompt to fit the context window) and `sources` (knowledge
    chunks the prompt was given). `event` says
    what the chunk carries: "start" (nothing more), "delta" (`content` and/or `tool_calls`),
    "finish" (`finish_reason`) or "usage" (`usage`, always last).
    """

    event: str
    id: str
    model: str
    created: int
    thread_id: str
    trimmed: int = 0
    sources: tuple[Source, ...] = ()
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


@dataclass(frozen=True, slots=True)
class ThreadMessage:
    """A message as stored in a thread: its position, the turn (reply id) that stored it."""

    seq: int
    message: Message
    turn_id: str
    created: int


@dataclass(frozen=True, slots=True)
class Thread:
    """A stored conversation thread (`messages` is empty in list results)."""

    thread_id: str
    created: int
    updated: int
    message_count: int
    messages: tuple[ThreadMessage, ...] = ()


@dataclass(frozen=True, slots=True)
class ThreadPage:
    """One page of `list_threads()`; pass `next_page_token` for the next, empty on the last."""

    threads: tuple[Thread, ...]
    next_page_token: str


@dataclass(frozen=True, slots=True)
class Space:
    """A knowledge space: documents chunked and indexed for `mode="knowledge"` turns."""

    space_id: str
    name: str
    description: str
    created: int
    document_count: int


@dataclass(frozen=True, slots=True)
class Document:
    """A document added to a knowledge space."""

    document_id: str
    space_id: str
    source: str
    title: str
    created: int
    chunk_count: int
