"""Public types of the chatrpc SDK, mirroring the contract: frozen dataclasses, no protobuf.

Requests: `ChatRequest` with its `GenerationConfig`, `Tool`, `ToolChoice`, `ResponseFormat`.
Replies: `Reply` (what `chat()` returns, with its `Choice`s) and the stream events
`chat_stream()` yields: `StreamStart`, then `MessageDelta`s and one `StreamFinish` per choice,
then `Usage` (`StreamEvent`); logprobs are `TokenLogprob`s. `embed()` gives `Embeddings`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, TypedDict

if TYPE_CHECKING:  # a protobuf-free module: the type only (chatrpc._deployments)
    from chatrpc._deployments import Deployment

from chatrpc._mcp import McpApprovalResponse, McpItem, McpTool
from chatrpc._parts import ContentPart as ContentPart, Tool as Tool

REPLICA_METADATA = "x-chatrpc-replica"  # the core replica that served a call (initial metadata)


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
    CONTENT_FILTER = "content_filter"  # the upstream's content filter stopped the reply


class ChatMode(enum.StrEnum):
    """Which pipeline variant serves a turn (DB-GPT's chat modes)."""

    NORMAL = "normal"
    APP = "app"  # a persona: `app_id`
    KNOWLEDGE = "knowledge"  # retrieval over a knowledge space: `space_id`
    FLOW = "flow"  # a named list of steps: `flow_id`


class ToolChoiceMode(enum.StrEnum):
    """How the model may use the tools it is given."""

    AUTO = "auto"
    NONE = "none"
    REQUIRED = "required"
    FUNCTION = "function"  # the one named by ToolChoice.function_name


class ResponseFormatType(enum.StrEnum):
    """Shape the reply text must take."""

    TEXT = "text"
    JSON_OBJECT = "json_object"
    JSON_SCHEMA = "json_schema"


class GenerationConfig(TypedDict, total=False):
    """Sampling and length settings (the contract's GenerationConfig); unset keys use the
    model's defaults. Ranges are checked by the server.

    Example:
        >>> GenerationConfig(temperature=0.7, max_tokens=64, stop=["END"])
    """

    temperature: float
    top_p: float
    max_tokens: int
    stop: str | Sequence[str]  # one string or several
    seed: int
    presence_penalty: float
    frequency_penalty: float
    repetition_penalty: float
    choice_count: int  # alternative replies (OpenAI's n), 1-8
    logprobs: bool  # return each generated token's log probability
    top_logprobs: int  # 0-20 likeliest alternatives per token; needs logprobs
    max_completion_tokens: int  # max_tokens under OpenAI's newer name; set one of the two
    extra_params: Mapping[str, Any]  # provider fields the model's catalog entry allows


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """The caller's constraint on tool use.

    Example:
        >>> ToolChoice(ToolChoiceMode.REQUIRED)
        >>> ToolChoice.function("get_weather")
    """

    mode: ToolChoiceMode = ToolChoiceMode.AUTO
    function_name: str = ""

    @classmethod
    def function(cls, name: str) -> ToolChoice:
        """The model must call the function `name`."""
        return cls(ToolChoiceMode.FUNCTION, name)


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    """Required shape of the reply text; `json_schema` only with JSON_SCHEMA."""

    type: ResponseFormatType = ResponseFormatType.TEXT
    schema_name: str = ""
    json_schema: Mapping[str, Any] | None = None
    strict: bool | None = None  # follow `json_schema` exactly; None: unsaid


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

    `reasoning` is an assistant's thinking apart from its answer (replies from reasoning
    models; in threads only when the server keeps it); it is never sent to the model.
    `parts`: a user message's text and image parts (`content` then empty; in replies, their text).

    Example:
        >>> Message(role="user", content="hello")
    """

    role: Role | str
    content: str = ""
    name: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str = ""
    reasoning: str = ""
    parts: tuple[ContentPart, ...] = ()


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One turn, as Chat and StreamChat take it (build it once, send it with either).

    Example:
        >>> request = ChatRequest(
        ...     messages=(Message("user", "hello"),),
        ...     thread_id="t-1",
        ...     generation_config=GenerationConfig(temperature=0.2, max_tokens=64),
        ... )
        >>> client.chat(request)
    """

    messages: Sequence[Message]
    model: str = ""
    thread_id: str = ""
    generation_config: GenerationConfig = field(default_factory=lambda: GenerationConfig())
    tools: Sequence[Tool] = ()
    tool_choice: ToolChoice | None = None  # None: AUTO when tools are given
    parallel_tool_calls: bool | None = None  # None: true
    response_format: ResponseFormat | None = None  # None: free text
    mode: ChatMode = ChatMode.NORMAL
    app_id: str = ""
    space_id: str = ""
    flow_id: str = ""
    user: str = ""  # recorded with the turn; never used for authorization
    metadata: Mapping[str, str] = field(default_factory=dict)  # recorded with the turn
    previous_turn_id: str = ""  # continue the thread of this stored turn (its latest turn)
    store: bool | None = None  # None: true; False reads a thread's history, stores nothing
    prompt: str = ""  # a raw text to continue instead of messages (a text completion)
    mcp_tools: Sequence[McpTool] = ()  # MCP servers whose tools the service runs
    mcp_approvals: Sequence[McpApprovalResponse] = ()  # answers to the last turn's requests


@dataclass(frozen=True, slots=True)
class Usage:
    """Token accounting for one turn; for a routed model, the deployment that answered, the
    upstream attempts made and the fallback model that answered, if one did."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    upstream: str = ""
    attempts: int = 0
    fallback_model: str = ""


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
class TopLogprob:
    """One of the likeliest tokens at a position: its text, natural-log probability, bytes."""

    token: str
    logprob: float
    token_bytes: bytes


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    """A generated token's log probability, with the likeliest alternatives.

    Attributes:
        token: The token's text (U+FFFD where it holds part of a character).
        logprob: Natural log of its probability under the model.
        token_bytes: Its raw bytes (join a character's tokens' bytes to decode it).
        top_logprobs: The `top_logprobs` likeliest tokens at this position, likeliest first.
    """

    token: str
    logprob: float
    token_bytes: bytes
    top_logprobs: tuple[TopLogprob, ...] = ()


@dataclass(frozen=True, slots=True)
class Choice:
    """One alternative of a reply (GenerationConfig `choice_count` asks for several).

    Attributes:
        index: Its position, from 0.
        message: The assistant message (content, reasoning, tool_calls).
        finish_reason: Why its generation stopped.
        logprobs: Each generated token's log probability, when the request asked for them.
    """

    index: int
    message: Message
    finish_reason: FinishReason
    logprobs: tuple[TokenLogprob, ...] = ()


@dataclass(frozen=True, slots=True)
class Reply:
    """A whole assistant reply (what `chat()` returns).

    Attributes:
        id: Reply id ("chatcmpl-" + 24 characters).
        model: The model that produced it.
        created: Unix time (seconds) the reply started.
        thread_id: The thread the turn was stored in; empty when not stored (stateless,
            or `store=False`).
        content: The assistant's text.
        tool_calls: Function calls the assistant requested.
        finish_reason: Why generation stopped.
        usage: Token accounting.
        trimmed: How many of the thread's oldest messages were left out of the prompt to fit
            the model's context window (they stay stored).
        sources: The knowledge chunks the prompt was given (knowledge mode, or an app or flow
            that retrieves).
        server_metadata: What the server said about admitting the turn, under HTTP header
            names: the API key's OpenAI-style `x-ratelimit-*` counters and, if the turn waited
            for its model, `x-chatrpc-queue-position`; `x-chatrpc-replica` (see `replica`).
        reasoning: The assistant's reasoning, apart from `content` (reasoning models).
        choices: Every choice, by index; choices[0] is `content`, `tool_calls`, `reasoning`
            and `finish_reason` above, and the one a thread stores.
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
    server_metadata: Mapping[str, str] = field(default_factory=dict)
    reasoning: str = ""
    choices: tuple[Choice, ...] = ()
    mcp_items: tuple[McpItem, ...] = ()  # with mcp_tools: each item in its final state

    @property
    def replica(self) -> str:
        """The id of the core replica that served the turn (`x-chatrpc-replica`: its
        CHATRPC_REPLICA_ID, by default its host name); empty if the server sent none."""
        return self.server_metadata.get(REPLICA_METADATA, "")


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A fragment of a streamed tool call; `id` and `name` come on the first one of an index."""

    index: int
    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class StreamStart:
    """The first event of a streamed reply: which reply it is.

    Attributes:
        id: Reply id ("chatcmpl-" + 24 characters).
        model: The model producing it.
        created: Unix time (seconds) the reply started.
        thread_id: The thread the turn is stored in; empty when not stored.
        trimmed: Stored messages left out of the prompt to fit the context window.
        sources: The knowledge chunks the prompt was given.
        server_metadata: As `Reply.server_metadata` (rate-limit counters, queue position).
    """

    id: str
    model: str
    created: int
    thread_id: str = ""
    trimmed: int = 0
    sources: tuple[Source, ...] = ()
    server_metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def replica(self) -> str:
        """The id of the core replica that served the turn (`x-chatrpc-replica`: its
        CHATRPC_REPLICA_ID, by default its host name); empty if the server sent none."""
        return self.server_metadata.get(REPLICA_METADATA, "")


@dataclass(frozen=True, slots=True)
class MessageDelta:
    """A fragment of one choice's assistant message: text, reasoning, tool-call fragments
    and/or token logprobs. One delta may carry many tokens' worth of text (whatever was ready
    together)."""

    content: str = ""
    tool_calls: tuple[ToolCallDelta, ...] = ()
    reasoning: str = ""
    choice_index: int = 0
    logprobs: tuple[TokenLogprob, ...] = ()


@dataclass(frozen=True, slots=True)
class StreamFinish:
    """Why generation of choice `choice_index` stopped; after that choice's last delta."""

    finish_reason: FinishReason
    choice_index: int = 0


StreamEvent: TypeAlias = StreamStart | MessageDelta | StreamFinish | Usage | McpItem
"""What `chat_stream()` yields: StreamStart, MessageDelta*, StreamFinish per choice, Usage."""


@dataclass(frozen=True, slots=True)
class Model:
    """A model the server can serve (what `list_models()` returns)."""

    id: str
    owned_by: str
    backend: str
    context_window: int
    ready: bool
    created: int
    embedding_dimensions: int = 0  # the length of its `embed()` vectors; 0: it does not embed
    deployments: tuple[Deployment, ...] = ()  # its upstream deployments, when it is routed
    vision: bool = False  # it takes image parts (Message.parts)


@dataclass(frozen=True, slots=True)
class ThreadMessage:
    """A message as stored in a thread: its position, the turn (reply id) that stored it, and
    the `user` and `metadata` that turn's request recorded."""

    seq: int
    message: Message
    turn_id: str
    created: int
    user: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Thread:
    """A stored conversation thread (`messages` and `metadata` are empty in list results)."""

    thread_id: str
    created: int
    updated: int
    message_count: int
    messages: tuple[ThreadMessage, ...] = ()
    user: str = ""  # the end user of the turn that created it
    metadata: Mapping[str, str] = field(default_factory=dict)  # see `update_thread()`


@dataclass(frozen=True, slots=True)
class StoredTurn:
    """A turn stored in a thread, as `get_turn()` returns it.

    Attributes:
        turn_id: The turn's id: the id of its reply ("chatcmpl-" + 24 characters).
        thread_id: The thread it belongs to.
        model: The model that produced the reply.
        created: Unix time (seconds) it was stored.
        input_messages: The turn's new messages as stored (no system messages).
        reply: The assistant reply (text and/or tool calls).
        finish_reason: Why generation stopped.
        usage: Token accounting.
        instructions: The text of the request's system messages (recorded, never context).
        previous_turn_id: The thread's turn before this one; empty for the first.
        latest: Whether it is the thread's latest turn (the only one a turn can continue from
            with `previous_turn_id`, or `delete_turn()` can delete).
        user: The `user` its request gave.
        metadata: The `metadata` its request gave.

    Example:
        >>> turn = client.get_turn(reply.id)
        >>> client.chat("and then?", previous_turn_id=turn.turn_id)
    """

    turn_id: str
    thread_id: str
    model: str
    created: int
    input_messages: tuple[Message, ...]
    reply: Message
    finish_reason: FinishReason
    usage: Usage
    instructions: str = ""
    previous_turn_id: str = ""
    latest: bool = False
    user: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ThreadPage:
    """One page of `list_threads()`; pass `next_page_token` for the next, empty on the last."""

    threads: tuple[Thread, ...]
    next_page_token: str
    total_count: int = 0  # threads matching the filters, on all pages


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


@dataclass(frozen=True, slots=True)
class Embedding:
    """The vector of one input of `embed()`: `index` is the input's position, `values` its
    float32 components (unit length, like OpenAI's)."""

    index: int
    values: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Embeddings:
    """What `embed()` returns: one Embedding per input, in input order.

    Attributes:
        model: The model that computed the vectors.
        embeddings: The vectors, `embeddings[i]` for input i.
        usage: The inputs' tokens (`prompt_tokens`, `total_tokens`; no completion tokens).
        server_metadata: As `Reply.server_metadata` (rate-limit counters, the replica).

    Example:
        >>> result = client.embed(["tea", "coffee"])
        >>> len(result.embeddings[0].values)
        576
    """

    model: str
    embeddings: tuple[Embedding, ...]
    usage: Usage
    server_metadata: Mapping[str, str] = field(default_factory=dict)


class CallHooks(Protocol):
    """What a client adds to each of its calls and learns from each (a gateway's request ids,
    trace context and server timings). Both methods run in the calling task.

    Example:
        >>> class RequestIds:
        ...     def outgoing(self, method: str) -> Sequence[tuple[str, str]]:
        ...         return (("x-request-id", "req-42"),)
        ...     def finished(self, method: str, trailing: Mapping[str, str]) -> None:
        ...         print(method, trailing.get("server-timing"))
        >>> client = chatrpc.AsyncClient("127.0.0.1:50051", hooks=RequestIds())
    """

    def outgoing(self, method: str) -> Sequence[tuple[str, str]]:
        """Extra metadata for a call of `method` ("Chat", "StreamChat", …)."""
        ...

    def finished(self, method: str, trailing: Mapping[str, str]) -> None:
        """The trailing metadata of a finished call (also a failed one), text values only."""
        ...
