"""Domain value types shared by the pipeline, backends, memory, tool parsers and personas."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any

from core.mcp_items import McpApproval, McpItem, McpToolRequest

JsonObject = dict[str, Any]

# Thread, app, space and flow ids (and the file names of apps and flows).
ID_PATTERN = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


class Role(enum.Enum):
    """Author of a message."""

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


class FinishReason(enum.Enum):
    """Why the model stopped generating."""

    STOP = "stop"
    LENGTH = "length"
    TOOL_CALLS = "tool_calls"
    CONTENT_FILTER = "content_filter"  # an upstream's filter stopped or withheld the reply


class ChatMode(enum.Enum):
    """Which pipeline variant serves a turn (DB-GPT's chat_mode)."""

    NORMAL = "normal"
    APP = "app"
    KNOWLEDGE = "knowledge"
    FLOW = "flow"


class ToolChoiceMode(enum.Enum):
    """How the model may use the tools it is given."""

    AUTO = "auto"
    NONE = "none"
    REQUIRED = "required"
    FUNCTION = "function"


class ResponseFormatType(enum.Enum):
    """Shape the reply text must take."""

    TEXT = "text"
    JSON_OBJECT = "json_object"
    JSON_SCHEMA = "json_schema"


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A complete call of a function the model requested; `arguments` is a JSON text."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ContentPart:
    """A part of a user message: text, or an image URL (never fetched) with its `detail`."""

    text: str = ""
    image_url: str = ""
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Message:
    """One message of a conversation; with `parts` (images), `content` is their text."""

    role: Role
    content: str = ""
    name: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str = ""
    reasoning: str = ""  # an assistant's thinking, apart from its answer; never sent to a model
    parts: tuple[ContentPart, ...] = ()


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function the model may call; `parameters` is a JSON Schema object."""

    name: str
    description: str = ""
    parameters: JsonObject = field(default_factory=dict)
    strict: bool | None = None  # follow `parameters` exactly; None: not said (sent as is)


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """The caller's constraint on tool use; `name` is set only for FUNCTION."""

    mode: ToolChoiceMode = ToolChoiceMode.AUTO
    name: str = ""


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    """Requested reply format; `schema` is set only for JSON_SCHEMA."""

    type: ResponseFormatType = ResponseFormatType.TEXT
    name: str = ""
    schema: JsonObject | None = None
    strict: bool | None = None  # follow `schema` exactly; None: not said (sent as is)


@dataclass(frozen=True, slots=True)
class GenerationParams:
    """Sampling and length settings; None means the model's default."""

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    repetition_penalty: float | None = None
    choice_count: int | None = None  # the pipeline generates each choice; backends ignore it
    logprobs: bool | None = None
    top_logprobs: int | None = None
    max_tokens_field: str = ""  # the name the caller gave max_tokens; "": max_tokens
    extra: JsonObject = field(default_factory=dict)  # provider fields (catalog extra_params)

    @property
    def top_logprob_count(self) -> int | None:
        """How many alternatives per token the reply carries; None: no logprobs at all."""
        return (self.top_logprobs or 0) if self.logprobs else None


REQUEST_ONLY_PARAMS = frozenset(  # never a catalog or app default: not sampling settings
    {"choice_count", "logprobs", "top_logprobs", "max_tokens_field", "extra"}
)


@dataclass(frozen=True, slots=True)
class Usage:
    """Token accounting for one turn."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class Turn:
    """One validated request: the new messages plus everything that shapes the reply."""

    messages: tuple[Message, ...]
    model: str = ""
    thread_id: str = ""
    params: GenerationParams = GenerationParams()
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice = ToolChoice()
    parallel_tool_calls: bool = True
    response_format: ResponseFormat = ResponseFormat()
    mode: ChatMode = ChatMode.NORMAL
    app_id: str = ""
    space_id: str = ""
    flow_id: str = ""
    user: str = ""
    metadata: tuple[tuple[str, str], ...] = ()
    previous_turn_id: str = ""  # continue the thread of this stored turn (its latest)
    store: bool = True  # False: a thread's history is read, the turn is not stored
    prompt: str = ""  # a raw text to continue instead of messages (no chat template)
    mcp_tools: tuple[McpToolRequest, ...] = ()  # servers whose tools the core runs (core.mcp)
    mcp_approvals: tuple[McpApproval, ...] = ()  # answers to the previous turn's requests


@dataclass(frozen=True, slots=True)
class Prompt:
    """What a backend is asked to continue: the full message list plus tool settings."""

    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice = ToolChoice()
    parallel_tool_calls: bool = True
    response_format: ResponseFormat = ResponseFormat()
    raw: str = ""  # a text completion: continue this text as it is (`messages` empty)


# --- stream events -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking: thread owner, idempotency key, request id (a stored turn keeps it)."""

    owner: str
    idempotency_key: str = ""
    request_id: str = ""
    key: str = ""  # the name of the API key (its limits and spend); the owner's name if empty


DEFAULT_OWNER = "default"  # every caller, until API keys give callers identities


@dataclass(frozen=True, slots=True)
class Source:
    """A knowledge chunk put into the prompt, as the reply cites it ([1], [2], …)."""

    chunk_id: str
    document_id: str
    source: str
    title: str
    score: float
    text: str


@dataclass(frozen=True, slots=True)
class TurnStart:
    """First event of a turn; `trimmed`: stored messages left out, `sources`: chunks given."""

    id: str
    model: str
    created: int
    thread_id: str = ""
    trimmed: int = 0
    sources: tuple[Source, ...] = ()


@dataclass(frozen=True, slots=True)
class TopLogprob:
    """One of the most likely tokens at a position; `token_bytes` are its raw bytes."""

    token: str
    logprob: float
    token_bytes: bytes


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    """A generated token's log probability, with the most likely alternatives (`top`)."""

    token: str
    logprob: float
    token_bytes: bytes
    top: tuple[TopLogprob, ...] = ()


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A fragment of the assistant's text (of choice `choice`)."""

    text: str
    choice: int = 0


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A fragment of the assistant's reasoning, apart from its answer."""

    text: str
    choice: int = 0


@dataclass(frozen=True, slots=True)
class LogprobsDelta:
    """The log probabilities of tokens generated since the previous one, in order."""

    tokens: tuple[TokenLogprob, ...]
    choice: int = 0


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A fragment of a tool call; `id` and `name` are set on the first fragment of an index."""

    index: int
    id: str = ""
    name: str = ""
    arguments: str = ""
    choice: int = 0


@dataclass(frozen=True, slots=True)
class TurnFinish:
    """Why generation of choice `choice` stopped; once per choice, after its last delta."""

    finish_reason: FinishReason
    choice: int = 0


@dataclass(frozen=True, slots=True)
class TurnUsage:
    """Token usage of the turn; the last event of a complete turn."""

    usage: Usage


@dataclass(frozen=True, slots=True)
class TurnQueued:
    """The turn waits for its model; `position` 1 runs next. Before TurnStart, if at all."""

    position: int


ChoiceEvent = TextDelta | ReasoningDelta | LogprobsDelta | ToolCallDelta | TurnFinish
ReplyEvent = TurnStart | ChoiceEvent | TurnUsage | McpItem
ChatEvent = TurnQueued | ReplyEvent


@dataclass(frozen=True, slots=True)
class BackendChunk:
    """What a backend yields: text, reasoning, logprobs and/or native tool-call deltas; the
    last has finish + usage. `reasoning` is thinking text the model sent apart from its text
    (upstream `reasoning_content`); `logprobs` cover the tokens of this chunk, when asked."""

    text: str = ""
    tool_calls: tuple[ToolCallDelta, ...] = ()
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    reasoning: str = ""
    logprobs: tuple[TokenLogprob, ...] = ()


@dataclass(frozen=True, slots=True)
class Choice:
    """One alternative of a reply."""

    index: int
    content: str
    tool_calls: tuple[ToolCall, ...]
    finish_reason: FinishReason
    reasoning: str = ""
    logprobs: tuple[TokenLogprob, ...] = ()


@dataclass(frozen=True, slots=True)
class Reply:
    """A whole turn folded from its events (see core.pipeline.aggregate.fold); `choices` has
    at least one, and choice 0 is the reply a thread stores."""

    id: str
    model: str
    created: int
    thread_id: str
    choices: tuple[Choice, ...]
    usage: Usage
    trimmed: int = 0
    sources: tuple[Source, ...] = ()
    mcp_items: tuple[McpItem, ...] = ()  # each MCP item in its final state, in order begun

    @property
    def content(self) -> str:
        return self.choices[0].content

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        return self.choices[0].tool_calls

    @property
    def finish_reason(self) -> FinishReason:
        return self.choices[0].finish_reason

    @property
    def reasoning(self) -> str:
        return self.choices[0].reasoning


# --- embeddings ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EmbedRequest:
    """One Embed call: texts or token ids, the model ("": the default), the vectors' length."""

    inputs: tuple[str, ...]
    model: str = ""
    dimensions: int | None = None
    user: str = ""
    token_inputs: tuple[tuple[int, ...], ...] = ()  # token ids instead of texts


@dataclass(frozen=True, slots=True)
class EmbeddingBatch:
    """A backend's `embed` result: one vector per input, in input order; the inputs' tokens."""

    vectors: tuple[tuple[float, ...], ...]
    prompt_tokens: int


@dataclass(frozen=True, slots=True)
class Embeddings:
    """The answer to an EmbedRequest: the model that computed it and its batch."""

    model: str
    batch: EmbeddingBatch
