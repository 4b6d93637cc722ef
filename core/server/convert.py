"""All protobuf ↔ domain conversions of the core (with core/server/convert_content.py, the only
core modules besides the servicer that import chatrpc.v1). Decoding checks structure (enums,
required sub-fields); ranges and limits are checked by core.pipeline.validation."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from google.protobuf import json_format, struct_pb2, timestamp_pb2

from chatrpc.v1 import chat_service_pb2 as pb
from core.catalog import ModelSpec
from core.errors import InvalidArgumentError
from core.knowledge.base import Document, Space
from core.mcp_items import McpItem
from core.memory.base import StoredMessage, StoredTurn, Thread, ThreadPage, ThreadSummary
from core.server.convert_content import (
    content_from_pb,
    embed_request_from_pb as embed_request_from_pb,
    params_from_pb,
    part_to_pb,
)
from core.server.deployments import Deployment, deployment_to_pb
from core.server.mcp_convert import mcp_approvals_from_pb, mcp_item_to_pb, mcp_tools_from_pb
from core.types import (
    ChatMode,
    Choice,
    Embeddings,
    FinishReason,
    JsonObject,
    LogprobsDelta,
    Message,
    ReasoningDelta,
    Reply,
    ReplyEvent,
    ResponseFormat,
    ResponseFormatType,
    Role,
    Source,
    TextDelta,
    TokenLogprob,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    ToolChoiceMode,
    ToolSpec,
    Turn,
    TurnFinish,
    TurnStart,
    TurnUsage,
    Usage,
)
from observability.requests import current

ChatRequestPb = pb.ChatRequest | pb.StreamChatRequest

_ROLES = {
    pb.ROLE_SYSTEM: Role.SYSTEM,
    pb.ROLE_USER: Role.USER,
    pb.ROLE_ASSISTANT: Role.ASSISTANT,
    pb.ROLE_TOOL: Role.TOOL,
}
_ROLES_PB = {role: value for value, role in _ROLES.items()}
_MODES = {
    pb.CHAT_MODE_UNSPECIFIED: ChatMode.NORMAL,
    pb.CHAT_MODE_NORMAL: ChatMode.NORMAL,
    pb.CHAT_MODE_APP: ChatMode.APP,
    pb.CHAT_MODE_KNOWLEDGE: ChatMode.KNOWLEDGE,
    pb.CHAT_MODE_FLOW: ChatMode.FLOW,
}
_TOOL_CHOICES = {
    pb.TOOL_CHOICE_MODE_UNSPECIFIED: ToolChoiceMode.AUTO,
    pb.TOOL_CHOICE_MODE_AUTO: ToolChoiceMode.AUTO,
    pb.TOOL_CHOICE_MODE_NONE: ToolChoiceMode.NONE,
    pb.TOOL_CHOICE_MODE_REQUIRED: ToolChoiceMode.REQUIRED,
    pb.TOOL_CHOICE_MODE_FUNCTION: ToolChoiceMode.FUNCTION,
}
_FORMATS = {
    pb.RESPONSE_FORMAT_TYPE_UNSPECIFIED: ResponseFormatType.TEXT,
    pb.RESPONSE_FORMAT_TYPE_TEXT: ResponseFormatType.TEXT,
    pb.RESPONSE_FORMAT_TYPE_JSON_OBJECT: ResponseFormatType.JSON_OBJECT,
    pb.RESPONSE_FORMAT_TYPE_JSON_SCHEMA: ResponseFormatType.JSON_SCHEMA,
}
_FINISH_PB = {
    FinishReason.STOP: pb.FINISH_REASON_STOP,
    FinishReason.LENGTH: pb.FINISH_REASON_LENGTH,
    FinishReason.TOOL_CALLS: pb.FINISH_REASON_TOOL_CALLS,
    FinishReason.CONTENT_FILTER: pb.FINISH_REASON_CONTENT_FILTER,
}


def request_to_turn(request: ChatRequestPb) -> Turn:
    """Decodes a Chat/StreamChat request (they share their fields) into a Turn."""
    return Turn(
        messages=tuple(_message(m, f"messages[{i}]") for i, m in enumerate(request.messages)),
        model=request.model,
        thread_id=request.thread_id,
        params=params_from_pb(request.generation_config),
        tools=tuple(_tool(t, f"tools[{i}]") for i, t in enumerate(request.tools)),
        tool_choice=_tool_choice(request.tool_choice),
        parallel_tool_calls=(
            request.parallel_tool_calls if request.HasField("parallel_tool_calls") else True
        ),
        response_format=_response_format(request.response_format),
        mode=_enum(_MODES, request.mode, "mode"),
        app_id=request.app_id,
        space_id=request.space_id,
        flow_id=request.flow_id,
        user=request.user,
        metadata=tuple(sorted(request.metadata.items())),
        previous_turn_id=request.previous_turn_id,
        store=request.store if request.HasField("store") else True,
        prompt=request.prompt,
        mcp_tools=mcp_tools_from_pb(request.mcp_tools),
        mcp_approvals=mcp_approvals_from_pb(request.mcp_approvals),
    )


def _enum(table: dict[Any, Any], value: int, field: str) -> Any:
    try:
        return table[value]
    except KeyError:
        raise InvalidArgumentError(f"{field} has an unknown value {value}.", field=field) from None


def _message(message: pb.Message, field: str) -> Message:
    if message.role == pb.ROLE_UNSPECIFIED:
        raise InvalidArgumentError(f"{field}.role is required.", field=f"{field}.role")
    content, parts = content_from_pb(message, field)
    return Message(
        role=_enum(_ROLES, message.role, f"{field}.role"),
        content=content,
        name=message.name,
        tool_calls=tuple(ToolCall(c.id, c.name, c.arguments) for c in message.tool_calls),
        tool_call_id=message.tool_call_id,
        parts=parts,
    )


def messages_from_pb(messages: Iterable[pb.Message]) -> tuple[Message, ...]:
    """Messages of a thread request (CreateThread, AppendThreadMessages), decoded."""
    return tuple(_message(m, f"messages[{i}]") for i, m in enumerate(messages))


def _tool(tool: pb.Tool, field: str) -> ToolSpec:
    return ToolSpec(
        name=tool.name,
        description=tool.description,
        parameters=_struct(tool.parameters),
        strict=tool.strict if tool.HasField("strict") else None,
    )


def _tool_choice(choice: pb.ToolChoice) -> ToolChoice:
    mode = _enum(_TOOL_CHOICES, choice.mode, "tool_choice.mode")
    return ToolChoice(mode=mode, name=choice.function_name)


def _response_format(fmt: pb.ResponseFormat) -> ResponseFormat:
    kind = _enum(_FORMATS, fmt.type, "response_format.type")
    schema = _struct(fmt.json_schema) if fmt.HasField("json_schema") else None
    strict = fmt.strict if fmt.HasField("strict") else None
    return ResponseFormat(type=kind, name=fmt.schema_name, schema=schema, strict=strict)


def _struct(value: struct_pb2.Struct) -> JsonObject:
    return dict(json_format.MessageToDict(value))


def timestamp(seconds: int) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=seconds)


def message_to_pb(message: Message) -> pb.Message:
    return pb.Message(
        role=_ROLES_PB[message.role],
        content="" if message.parts else message.content,
        parts=[part_to_pb(p) for p in message.parts],
        name=message.name,
        tool_calls=[
            pb.ToolCall(id=c.id, name=c.name, arguments=c.arguments) for c in message.tool_calls
        ],
        tool_call_id=message.tool_call_id,
        reasoning=message.reasoning,
    )


def logprobs_to_pb(tokens: Iterable[TokenLogprob]) -> list[pb.TokenLogprob]:
    return [
        pb.TokenLogprob(
            token=t.token,
            logprob=t.logprob,
            token_bytes=t.token_bytes,
            top_logprobs=[
                pb.TopLogprob(token=a.token, logprob=a.logprob, token_bytes=a.token_bytes)
                for a in t.top
            ],
        )
        for t in tokens
    ]


def usage_to_pb(usage: Usage) -> pb.Usage:
    """The usage, with the router's trail (core/routing) when the turn went through one."""
    message = pb.Usage(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
    )
    request = current()
    if request is not None and request.upstream:
        message.upstream.deployment = request.upstream
        message.upstream.attempts = request.attempts
        message.upstream.fallback_model = request.fallback
    return message


def summary_to_pb(summary: ThreadSummary, messages: Iterable[pb.ThreadMessage] = ()) -> pb.Thread:
    return pb.Thread(
        thread_id=summary.thread_id,
        create_time=timestamp(int(summary.created)),
        update_time=timestamp(int(summary.updated)),
        message_count=summary.message_count,
        messages=messages,
        user=summary.user,
        metadata=dict(summary.metadata),
    )


def thread_to_pb(thread: Thread) -> pb.Thread:
    summary = ThreadSummary(
        thread.thread_id,
        thread.created,
        thread.updated,
        len(thread.messages),
        user=thread.user,
        metadata=thread.metadata,
    )
    return summary_to_pb(summary, [stored_message_to_pb(m) for m in thread.messages])


def stored_message_to_pb(stored: StoredMessage) -> pb.ThreadMessage:
    return pb.ThreadMessage(
        seq=stored.seq,
        message=message_to_pb(stored.message),
        turn_id=stored.turn_id,
        create_time=timestamp(int(stored.created)),
        user=stored.user,
        metadata=dict(stored.metadata),
    )


def stored_turn_to_pb(stored: StoredTurn) -> pb.StoredTurn:
    record = stored.record
    return pb.StoredTurn(
        turn_id=record.turn_id,
        thread_id=record.thread_id,
        model=record.model,
        create_time=timestamp(int(record.created)),
        input_messages=[message_to_pb(m) for m in record.messages[:-1]],
        reply=message_to_pb(record.messages[-1]),
        finish_reason=_FINISH_PB[record.finish_reason],
        usage=usage_to_pb(record.usage),
        instructions=record.instructions,
        previous_turn_id=stored.previous_turn_id,
        latest=stored.latest,
        user=record.user,
        metadata=dict(record.metadata),
    )


def page_to_pb(page: ThreadPage) -> pb.ListThreadsResponse:
    threads = [summary_to_pb(summary) for summary in page.threads]
    return pb.ListThreadsResponse(threads=threads, next_page_token=page.next_page_token)


def sources_to_pb(sources: tuple[Source, ...]) -> list[pb.Source]:
    return [
        pb.Source(
            chunk_id=s.chunk_id,
            document_id=s.document_id,
            source=s.source,
            title=s.title,
            score=s.score,
            text=s.text,
        )
        for s in sources
    ]


def space_to_pb(space: Space) -> pb.Space:
    return pb.Space(
        space_id=space.space_id,
        name=space.name,
        description=space.description,
        create_time=timestamp(int(space.created)),
        document_count=space.document_count,
    )


def document_to_pb(document: Document) -> pb.Document:
    return pb.Document(
        document_id=document.document_id,
        space_id=document.space_id,
        source=document.source,
        title=document.title,
        create_time=timestamp(int(document.created)),
        chunk_count=document.chunk_count,
    )


def choice_to_pb(choice: Choice) -> pb.Choice:
    message = Message(
        role=Role.ASSISTANT,
        content=choice.content,
        tool_calls=choice.tool_calls,
        reasoning=choice.reasoning,
    )
    return pb.Choice(
        index=choice.index,
        message=message_to_pb(message),
        finish_reason=_FINISH_PB[choice.finish_reason],
        logprobs=logprobs_to_pb(choice.logprobs),
    )


def reply_to_pb(reply: Reply) -> pb.ChatResponse:
    choices = [choice_to_pb(c) for c in reply.choices]
    return pb.ChatResponse(
        id=reply.id,
        model=reply.model,
        create_time=timestamp(reply.created),
        thread_id=reply.thread_id,
        message=choices[0].message,
        finish_reason=choices[0].finish_reason,
        usage=usage_to_pb(reply.usage),
        trimmed_message_count=reply.trimmed,
        sources=sources_to_pb(reply.sources),
        choices=choices,
        mcp_items=[mcp_item_to_pb(item) for item in reply.mcp_items],
    )


def event_to_pb(event: ReplyEvent) -> pb.StreamChatResponse:
    if isinstance(event, TurnStart):
        start = pb.StreamStart(
            id=event.id,
            model=event.model,
            create_time=timestamp(event.created),
            thread_id=event.thread_id,
            trimmed_message_count=event.trimmed,
            sources=sources_to_pb(event.sources),
        )
        return pb.StreamChatResponse(start=start)
    if isinstance(event, TurnFinish):
        finish = pb.StreamFinish(
            finish_reason=_FINISH_PB[event.finish_reason], choice_index=event.choice
        )
        return pb.StreamChatResponse(finish=finish)
    if isinstance(event, TurnUsage):
        return pb.StreamChatResponse(usage=usage_to_pb(event.usage))
    if isinstance(event, McpItem):
        return pb.StreamChatResponse(mcp_item=mcp_item_to_pb(event))
    return pb.StreamChatResponse(delta=_delta_to_pb(event))


def _delta_to_pb(
    event: TextDelta | ReasoningDelta | LogprobsDelta | ToolCallDelta,
) -> pb.MessageDelta:
    if isinstance(event, TextDelta):
        return pb.MessageDelta(content=event.text, choice_index=event.choice)
    if isinstance(event, ReasoningDelta):
        return pb.MessageDelta(reasoning=event.text, choice_index=event.choice)
    if isinstance(event, LogprobsDelta):
        return pb.MessageDelta(logprobs=logprobs_to_pb(event.tokens), choice_index=event.choice)
    call = pb.ToolCallDelta(
        index=event.index, id=event.id, name=event.name, arguments=event.arguments
    )
    return pb.MessageDelta(tool_calls=[call], choice_index=event.choice)


def model_to_pb(
    spec: ModelSpec, ready: bool, deployments: Sequence[Deployment] = (), now: float = 0.0
) -> pb.Model:
    return pb.Model(
        id=spec.name,
        owned_by=spec.owned_by,
        backend=spec.backend,
        context_window=spec.context_window,
        ready=ready,
        create_time=timestamp(spec.created),
        embedding_dimensions=spec.embeddings.dimensions if spec.embeddings else 0,
        deployments=[deployment_to_pb(d, now) for d in deployments],
        vision=spec.vision,
    )


def embeddings_to_pb(embeddings: Embeddings) -> pb.EmbedResponse:
    batch = embeddings.batch
    return pb.EmbedResponse(
        model=embeddings.model,
        embeddings=[pb.Embedding(index=i, values=vector) for i, vector in enumerate(batch.vectors)],
        usage=usage_to_pb(Usage(prompt_tokens=batch.prompt_tokens)),
    )
