"""Everything in the SDK that is not I/O: the one place SDK types become protobuf and back.

`request_to_pb` builds Chat/StreamChat requests from a `ChatRequest`; `event_from_pb` and
`reply_from_pb` read replies, `embeddings_from_pb` Embed's answer. `UnaryCall`s describe the
other RPCs (method, request, how to read the response), so the sync and async clients differ
only in how they wait.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeAlias, TypeVar, cast

from chatrpc import _mcp, _types as t
from chatrpc._contract import assign, check_map, check_metadata, new, struct
from chatrpc._deployments import deployments_from_pb
from chatrpc._messages import (
    EmbedInputs,
    calls_from_pb,
    embed_request,
    enum_value,
    message_from_pb,
    message_to_pb,
)
from chatrpc.v1 import chat_service_pb2 as pb

DEFAULT_TARGET = "127.0.0.1:50051"

Messages: TypeAlias = "str | Sequence[t.Message | Mapping[str, Any]]"
RequestT = TypeVar("RequestT", pb.ChatRequest, pb.StreamChatRequest)
R = TypeVar("R")

_FINISH = {
    pb.FINISH_REASON_STOP: t.FinishReason.STOP,
    pb.FINISH_REASON_LENGTH: t.FinishReason.LENGTH,
    pb.FINISH_REASON_TOOL_CALLS: t.FinishReason.TOOL_CALLS,
    pb.FINISH_REASON_CONTENT_FILTER: t.FinishReason.CONTENT_FILTER,
}
_MODES = {
    t.ChatMode.NORMAL: pb.CHAT_MODE_NORMAL,
    t.ChatMode.APP: pb.CHAT_MODE_APP,
    t.ChatMode.KNOWLEDGE: pb.CHAT_MODE_KNOWLEDGE,
    t.ChatMode.FLOW: pb.CHAT_MODE_FLOW,
}
_TOOL_CHOICES = {
    t.ToolChoiceMode.AUTO: pb.TOOL_CHOICE_MODE_AUTO,
    t.ToolChoiceMode.NONE: pb.TOOL_CHOICE_MODE_NONE,
    t.ToolChoiceMode.REQUIRED: pb.TOOL_CHOICE_MODE_REQUIRED,
    t.ToolChoiceMode.FUNCTION: pb.TOOL_CHOICE_MODE_FUNCTION,
}
_FORMATS = {
    t.ResponseFormatType.TEXT: pb.RESPONSE_FORMAT_TYPE_TEXT,
    t.ResponseFormatType.JSON_OBJECT: pb.RESPONSE_FORMAT_TYPE_JSON_OBJECT,
    t.ResponseFormatType.JSON_SCHEMA: pb.RESPONSE_FORMAT_TYPE_JSON_SCHEMA,
}


class TurnOptions(t.GenerationConfig, total=False):
    """Keyword arguments of chat() and chat_stream() (both clients): a ChatRequest's fields
    beside `messages`, with the GenerationConfig keys given directly.

    Example:
        >>> client.chat("hello", thread_id=7, temperature=0.2, max_tokens=64)
    """

    model: str
    thread_id: str | int
    tools: Sequence[t.Tool]
    tool_choice: t.ToolChoice | t.ToolChoiceMode | str  # a mode, or ToolChoice.function(name)
    parallel_tool_calls: bool
    response_format: t.ResponseFormat
    mode: t.ChatMode | str
    app_id: str
    space_id: str
    flow_id: str
    user: str
    metadata: Mapping[str, str]
    previous_turn_id: str
    store: bool
    prompt: str  # a text completion: continue this text (then messages is empty)
    mcp_tools: Sequence[_mcp.McpTool]
    mcp_approvals: Sequence[_mcp.McpApprovalResponse]


_CONFIG_KEYS = t.GenerationConfig.__optional_keys__


def chat_request(messages: Messages | t.ChatRequest, options: TurnOptions) -> t.ChatRequest:
    """The ChatRequest for chat()'s arguments: a ready request, or messages plus options."""
    if isinstance(messages, t.ChatRequest):
        if options:
            raise TypeError("pass either a ChatRequest or messages with keyword options")
        return messages
    extra = set(options) - set(TurnOptions.__optional_keys__)
    if extra:
        raise TypeError(f"unexpected keyword arguments: {', '.join(sorted(extra))}")
    config: t.GenerationConfig = {k: v for k, v in options.items() if k in _CONFIG_KEYS}  # type: ignore[assignment]
    return t.ChatRequest(
        messages=tuple(normalize_messages(messages)),
        model=options.get("model", ""),
        thread_id=str(options.get("thread_id", "")),
        generation_config=config,
        tools=tuple(options.get("tools") or ()),
        tool_choice=_tool_choice(options.get("tool_choice")),
        parallel_tool_calls=options.get("parallel_tool_calls"),
        response_format=options.get("response_format"),
        mode=enum_value(t.ChatMode, options.get("mode") or "normal", "mode"),
        app_id=options.get("app_id", ""),
        space_id=options.get("space_id", ""),
        flow_id=options.get("flow_id", ""),
        user=options.get("user", ""),
        metadata=dict(options.get("metadata") or {}),
        previous_turn_id=options.get("previous_turn_id", ""),
        store=options.get("store"),
        prompt=options.get("prompt", ""),
        mcp_tools=tuple(options.get("mcp_tools") or ()),
        mcp_approvals=tuple(options.get("mcp_approvals") or ()),
    )


def _tool_choice(value: t.ToolChoice | t.ToolChoiceMode | str | None) -> t.ToolChoice | None:
    if value is None or isinstance(value, t.ToolChoice):
        return value
    return t.ToolChoice(enum_value(t.ToolChoiceMode, value, "tool_choice"))


def normalize_messages(messages: Messages) -> list[t.Message]:
    """A string is one user message; a mapping has Message's fields (role, content, …)."""
    if isinstance(messages, str):
        return [t.Message(role=t.Role.USER, content=messages)]
    return [m if isinstance(m, t.Message) else t.Message(**m) for m in messages]


def request_to_pb(request: t.ChatRequest, message: RequestT) -> RequestT:
    """Fills a Chat/StreamChat request (they share their fields) from a ChatRequest."""
    for name in ("model", "thread_id", "app_id", "space_id", "flow_id", "user", "previous_turn_id"):
        assign(message, name, getattr(request, name), name)
    message.messages.extend(
        message_to_pb(m, f"messages[{i}]") for i, m in enumerate(request.messages)
    )
    _config_to_pb(request.generation_config, message.generation_config)
    message.tools.extend(_tool_to_pb(tool, f"tools[{i}]") for i, tool in enumerate(request.tools))
    if request.tool_choice is not None:
        choice = request.tool_choice
        mode = enum_value(t.ToolChoiceMode, choice.mode, "tool_choice")
        message.tool_choice.mode = _TOOL_CHOICES[mode]
        assign(message.tool_choice, "function_name", choice.function_name, "tool_choice")
    if request.parallel_tool_calls is not None:
        assign(message, "parallel_tool_calls", request.parallel_tool_calls, "parallel_tool_calls")
    if request.response_format is not None:
        fmt = request.response_format
        message.response_format.type = _FORMATS[enum_value(t.ResponseFormatType, fmt.type, "type")]
        assign(message.response_format, "schema_name", fmt.schema_name, "response_format")
        if fmt.json_schema is not None:
            schema = struct(fmt.json_schema, "response_format.json_schema")
            message.response_format.json_schema.CopyFrom(schema)
        if fmt.strict is not None:
            message.response_format.strict = fmt.strict
    message.mode = _MODES[enum_value(t.ChatMode, request.mode, "mode")]
    check_map(request.metadata, "metadata")
    message.metadata.update(request.metadata)
    if request.store is not None:
        assign(message, "store", request.store, "store")
    assign(message, "prompt", request.prompt, "prompt")
    message.mcp_tools.extend(_mcp.mcp_tool_to_pb(tool) for tool in request.mcp_tools)
    message.mcp_approvals.extend(_mcp.mcp_approval_to_pb(a) for a in request.mcp_approvals)
    return message


def _config_to_pb(config: t.GenerationConfig, message: pb.GenerationConfig) -> None:
    """The keys are the contract's field names; `stop` may be one string."""
    for name, value in config.items():
        if name == "stop":
            stop = cast("str | Sequence[str]", value)
            assign(message, "stop", [stop] if isinstance(stop, str) else stop, "stop")
        elif name == "extra_params":
            value = cast("Mapping[str, Any]", value)
            message.extra_params.CopyFrom(struct(value, "generation_config.extra_params"))
        elif value is not None:
            assign(message, name, value, f"generation_config.{name}")


def _tool_to_pb(tool: t.Tool, path: str = "tools") -> pb.Tool:
    result = new(pb.Tool, path, name=tool.name, description=tool.description)
    if tool.parameters is not None:
        result.parameters.CopyFrom(struct(tool.parameters, f"{path}.parameters"))
    if tool.strict is not None:
        result.strict = tool.strict
    return result


def call_metadata(
    api_key: str | None,
    idempotency_key: str | None = None,
    extra: Sequence[tuple[str, str]] = (),
) -> tuple[tuple[str, str], ...]:
    """gRPC metadata for a call: `authorization: Bearer <key>` and `idempotency-key`, if given,
    then `extra` (a CallHooks' outgoing metadata)."""
    items = [("authorization", f"Bearer {api_key}")] if api_key else []
    if idempotency_key:
        items.append(("idempotency-key", idempotency_key))
    items.extend(extra)
    for name, value in items:
        check_metadata(name, value)
    return tuple(items)


def text_metadata(metadata: Iterable[tuple[str, object]] | None) -> dict[str, str]:
    """A call's metadata as a mapping of its text values (binary `-bin` entries left out)."""
    return {name: value for name, value in metadata or () if isinstance(value, str)}


# --- replies ----------------------------------------------------------------------------------


def usage_from_pb(usage: pb.Usage) -> t.Usage:
    route = usage.upstream  # the router's trail (empty for a model without routing)
    counts = usage.prompt_tokens, usage.completion_tokens, usage.total_tokens
    return t.Usage(*counts, route.deployment, route.attempts, route.fallback_model)


def sources_from_pb(sources: Sequence[pb.Source]) -> tuple[t.Source, ...]:
    return tuple(
        t.Source(s.chunk_id, s.document_id, s.source, s.title, s.score, s.text) for s in sources
    )


SERVER_METADATA_PREFIXES = ("x-ratelimit-", "x-chatrpc-")
ServerMetadata: TypeAlias = "Iterable[tuple[str, str | bytes]] | None"


def with_server_metadata(result: R, metadata: ServerMetadata) -> R:
    """`result` (a Reply, StreamStart or Embeddings; anything else is returned as is) with the
    call's initial metadata that is meant for clients (SERVER_METADATA_PREFIXES)."""
    if not isinstance(result, t.Reply | t.StreamStart | t.Embeddings):
        return result
    kept = {
        name: value
        for name, value in metadata or ()
        if isinstance(value, str) and name.startswith(SERVER_METADATA_PREFIXES)
    }
    return cast(R, replace(result, server_metadata=kept)) if kept else result


def logprobs_from_pb(tokens: Sequence[pb.TokenLogprob]) -> tuple[t.TokenLogprob, ...]:
    return tuple(
        t.TokenLogprob(
            token=x.token,
            logprob=x.logprob,
            token_bytes=x.token_bytes,
            top_logprobs=tuple(
                t.TopLogprob(a.token, a.logprob, a.token_bytes) for a in x.top_logprobs
            ),
        )
        for x in tokens
    )


def _choice_from_pb(choice: pb.Choice) -> t.Choice:
    return t.Choice(
        index=choice.index,
        message=message_from_pb(choice.message),
        finish_reason=_FINISH.get(choice.finish_reason, t.FinishReason.STOP),
        logprobs=logprobs_from_pb(choice.logprobs),
    )


def reply_from_pb(response: pb.ChatResponse) -> t.Reply:
    return t.Reply(
        id=response.id,
        model=response.model,
        created=response.create_time.seconds,
        thread_id=response.thread_id,
        content=response.message.content,
        tool_calls=calls_from_pb(response.message),
        finish_reason=_FINISH.get(response.finish_reason, t.FinishReason.STOP),
        usage=usage_from_pb(response.usage),
        trimmed=response.trimmed_message_count,
        sources=sources_from_pb(response.sources),
        reasoning=response.message.reasoning,
        choices=tuple(_choice_from_pb(c) for c in response.choices),
        mcp_items=_mcp.mcp_items_from_pb(response.mcp_items),
    )


def event_from_pb(response: pb.StreamChatResponse) -> t.StreamEvent:
    """One StreamChat message as its typed event (deltas first: they are most messages)."""
    kind = response.WhichOneof("event")
    if kind == "delta":
        delta = response.delta
        calls = tuple(t.ToolCallDelta(d.index, d.id, d.name, d.arguments) for d in delta.tool_calls)
        logprobs = logprobs_from_pb(delta.logprobs) if delta.logprobs else ()
        return t.MessageDelta(delta.content, calls, delta.reasoning, delta.choice_index, logprobs)
    if kind == "start":
        start = response.start
        return t.StreamStart(
            id=start.id,
            model=start.model,
            created=start.create_time.seconds,
            thread_id=start.thread_id,
            trimmed=start.trimmed_message_count,
            sources=sources_from_pb(start.sources),
        )
    if kind == "finish":
        finish = response.finish
        reason = _FINISH.get(finish.finish_reason, t.FinishReason.STOP)
        return t.StreamFinish(reason, finish.choice_index)
    if kind == "mcp_item":
        return _mcp.mcp_item_from_pb(response.mcp_item)
    return usage_from_pb(response.usage)


def space_from_pb(space: pb.Space) -> t.Space:
    return t.Space(
        space_id=space.space_id,
        name=space.name,
        description=space.description,
        created=space.create_time.seconds,
        document_count=space.document_count,
    )


def document_from_pb(document: pb.Document) -> t.Document:
    return t.Document(
        document_id=document.document_id,
        space_id=document.space_id,
        source=document.source,
        title=document.title,
        created=document.create_time.seconds,
        chunk_count=document.chunk_count,
    )


def stored_turn_from_pb(turn: pb.StoredTurn) -> t.StoredTurn:
    return t.StoredTurn(
        turn_id=turn.turn_id,
        thread_id=turn.thread_id,
        model=turn.model,
        created=turn.create_time.seconds,
        input_messages=tuple(message_from_pb(m) for m in turn.input_messages),
        reply=message_from_pb(turn.reply),
        finish_reason=_FINISH.get(turn.finish_reason, t.FinishReason.STOP),
        usage=usage_from_pb(turn.usage),
        instructions=turn.instructions,
        previous_turn_id=turn.previous_turn_id,
        latest=turn.latest,
        user=turn.user,
        metadata=dict(turn.metadata),
    )


def thread_message_from_pb(m: pb.ThreadMessage) -> t.ThreadMessage:
    return t.ThreadMessage(
        seq=m.seq,
        message=message_from_pb(m.message),
        turn_id=m.turn_id,
        created=m.create_time.seconds,
        user=m.user,
        metadata=dict(m.metadata),
    )


def thread_from_pb(thread: pb.Thread) -> t.Thread:
    return t.Thread(
        thread_id=thread.thread_id,
        created=thread.create_time.seconds,
        updated=thread.update_time.seconds,
        message_count=thread.message_count,
        messages=tuple(thread_message_from_pb(m) for m in thread.messages),
        user=thread.user,
        metadata=dict(thread.metadata),
    )


def model_from_pb(model: pb.Model) -> t.Model:
    return t.Model(
        id=model.id,
        owned_by=model.owned_by,
        backend=model.backend,
        context_window=model.context_window,
        ready=model.ready,
        created=model.create_time.seconds,
        embedding_dimensions=model.embedding_dimensions,
        deployments=deployments_from_pb(model.deployments),
        vision=model.vision,
    )


def embeddings_from_pb(response: pb.EmbedResponse) -> t.Embeddings:
    return t.Embeddings(
        model=response.model,
        embeddings=tuple(t.Embedding(e.index, tuple(e.values)) for e in response.embeddings),
        usage=usage_from_pb(response.usage),
    )


# --- the unary RPCs besides Chat ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnaryCall(Generic[R]):
    """One unary RPC: the stub method's name, its request, and how to read its response."""

    method: str
    request: Any
    parse: Callable[[Any], R]


def _page(response: pb.ListThreadsResponse) -> t.ThreadPage:
    threads = tuple(thread_from_pb(thread) for thread in response.threads)
    return t.ThreadPage(threads=threads, next_page_token=response.next_page_token)


def nothing(response: object) -> None:
    return None


class Calls:
    """The UnaryCall of each RPC, by the client method that makes it."""

    @staticmethod
    def list_models() -> UnaryCall[list[t.Model]]:
        return UnaryCall(
            "ListModels", pb.ListModelsRequest(), lambda r: [model_from_pb(m) for m in r.models]
        )

    @staticmethod
    def get_thread(thread_id: str | int) -> UnaryCall[t.Thread]:
        request = new(pb.GetThreadRequest, thread_id=str(thread_id))
        return UnaryCall("GetThread", request, lambda r: thread_from_pb(r.thread))

    @staticmethod
    def delete_thread(thread_id: str | int) -> UnaryCall[None]:
        return UnaryCall(
            "DeleteThread", new(pb.DeleteThreadRequest, thread_id=str(thread_id)), nothing
        )

    @staticmethod
    def get_turn(turn_id: str) -> UnaryCall[t.StoredTurn]:
        request = new(pb.GetTurnRequest, turn_id=turn_id)
        return UnaryCall("GetTurn", request, lambda r: stored_turn_from_pb(r.turn))

    @staticmethod
    def delete_turn(turn_id: str) -> UnaryCall[None]:
        return UnaryCall("DeleteTurn", new(pb.DeleteTurnRequest, turn_id=turn_id), nothing)

    @staticmethod
    def create_space(space_id: str, name: str, description: str) -> UnaryCall[t.Space]:
        request = new(pb.CreateSpaceRequest, space_id=space_id, name=name, description=description)
        return UnaryCall("CreateSpace", request, lambda r: space_from_pb(r.space))

    @staticmethod
    def list_spaces() -> UnaryCall[list[t.Space]]:
        return UnaryCall(
            "ListSpaces", pb.ListSpacesRequest(), lambda r: [space_from_pb(s) for s in r.spaces]
        )

    @staticmethod
    def delete_space(space_id: str) -> UnaryCall[None]:
        return UnaryCall("DeleteSpace", new(pb.DeleteSpaceRequest, space_id=space_id), nothing)

    @staticmethod
    def embed(
        inputs: EmbedInputs, model: str, dimensions: int | None, user: str
    ) -> UnaryCall[t.Embeddings]:
        request = embed_request(inputs, model, dimensions, user)
        return UnaryCall("Embed", request, embeddings_from_pb)

    @staticmethod
    def add_document(space_id: str, source: str, text: str, title: str) -> UnaryCall[t.Document]:
        request = new(
            pb.AddDocumentRequest, space_id=space_id, source=source, text=text, title=title
        )
        return UnaryCall("AddDocument", request, lambda r: document_from_pb(r.document))
