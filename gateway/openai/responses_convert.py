"""Responses API shapes ↔ chatrpc SDK types; no I/O.

A response is a turn: its id is the turn's reply id with `resp_` for `chatcmpl-`, its output
items are the turn's reply (a `message` for the text, a `function_call` per tool call), its
input items are the turn's stored messages. A stored response belongs to a thread (created
for the first response of a conversation, continued by `previous_response_id`); the thread's
id is the response's `thread_id` extension field.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import chatrpc
from gateway.http.errors import RequestError
from gateway.openai.convert import extra_params, generation_config
from gateway.openai.responses_mcp import mcp_tools, split_mcp_input, tool_echo
from gateway.openai.responses_types import (
    CreateResponseRequest,
    FunctionCallItem,
    FunctionCallOutputItem,
    FunctionTool,
    FunctionToolChoice,
    InputImage,
    InputItem,
    MessageItem,
    TextFormatJsonObject,
    TextFormatJsonSchema,
)

JsonObject = dict[str, Any]

RESPONSE_PREFIX = "resp_"
TURN_PREFIX = "chatcmpl-"
THREAD_PREFIX = "conv_"


def response_id(turn_id: str) -> str:
    """The response id of a turn: `chatcmpl-<hex>` → `resp_<hex>`."""
    return RESPONSE_PREFIX + turn_id.removeprefix(TURN_PREFIX)


def turn_id(response: str, param: str | None = None) -> str:
    """The turn id of a response id; 404 for anything that is not one."""
    if not response.startswith(RESPONSE_PREFIX) or len(response) == len(RESPONSE_PREFIX):
        raise RequestError(
            f"Response with id {response!r} not found.",
            param=param,
            status=404,
            code="turn_not_found",
        )
    return TURN_PREFIX + response.removeprefix(RESPONSE_PREFIX)


def _suffix(turn: str) -> str:
    return turn.removeprefix(TURN_PREFIX)


def message_item_id(turn: str) -> str:
    return "msg_" + _suffix(turn)


def call_item_id(call_id: str) -> str:
    return "fc_" + call_id.removeprefix("call_")


@dataclass(frozen=True, slots=True)
class Echo:
    """The request's settings a Response object repeats (unknown for a retrieved response,
    whose settings are not stored: their defaults then)."""

    instructions: str | None = None
    tools: list[JsonObject] = field(default_factory=list)
    tool_choice: str | JsonObject = "auto"
    temperature: float | None = None
    top_p: float | None = None
    max_output_tokens: int | None = None
    text_format: JsonObject = field(default_factory=lambda: {"type": "text"})
    parallel_tool_calls: bool = True
    previous_response_id: str | None = None
    store: bool = True
    user: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    background: bool = False
    conversation: str | None = None


def request_to_turn(request: CreateResponseRequest) -> tuple[chatrpc.ChatRequest, Echo]:
    """The SDK request for a Responses request, and the settings its Response repeats."""
    mcp = split_mcp_input(request.input)
    messages = _instructions(request.instructions) + input_to_messages(mcp.items)
    if not messages and not mcp.approvals:
        raise RequestError("input must contain at least one item.", param="input")
    previous = request.previous_response_id
    conversation = conversation_of(request)
    thread_id = conversation or ""
    if request.store and previous is None and conversation is None:
        thread_id = THREAD_PREFIX + secrets.token_hex(12)  # a new conversation
    config = generation_config(request, request.max_output_tokens)
    if request.model_extra:
        config["extra_params"] = extra_params(request.model_extra)
    turn = chatrpc.ChatRequest(
        messages=tuple(messages),
        model=request.model,
        thread_id=thread_id,
        generation_config=config,
        tools=tuple(
            chatrpc.Tool(t.name, t.description or "", t.parameters, t.strict)
            for t in request.tools or ()
            if isinstance(t, FunctionTool)
        ),
        mcp_tools=mcp_tools(request.tools or [], mcp.listed),
        mcp_approvals=mcp.approvals,
        tool_choice=_tool_choice(request.tool_choice),
        parallel_tool_calls=request.parallel_tool_calls,
        response_format=_response_format(request),
        user=request.user or "",
        metadata=request.metadata or {},
        previous_turn_id=turn_id(previous, "previous_response_id") if previous else "",
        store=request.store,
    )
    return turn, _echo(request)


def conversation_of(request: CreateResponseRequest) -> str | None:
    """The id of the request's `conversation`, which excludes previous_response_id."""
    value = request.conversation
    if value is not None and request.previous_response_id is not None:
        raise RequestError(
            "Send conversation or previous_response_id, not both.", param="conversation"
        )
    return value if value is None or isinstance(value, str) else value.id


def _instructions(text: str | None) -> list[chatrpc.Message]:
    return [chatrpc.Message(chatrpc.Role.SYSTEM, text)] if text else []


def input_to_messages(items: str | list[InputItem]) -> list[chatrpc.Message]:
    """Input items as messages; consecutive function calls join the assistant message they
    follow (or a new one), as the chat shape holds them."""
    if isinstance(items, str):
        return [chatrpc.Message(chatrpc.Role.USER, items)]
    messages: list[chatrpc.Message] = []
    for item in items:
        if isinstance(item, FunctionCallItem):
            call = chatrpc.ToolCall(item.call_id, item.name, item.arguments)
            last = messages[-1] if messages else None
            if last is not None and last.role == chatrpc.Role.ASSISTANT:
                messages[-1] = chatrpc.Message(
                    chatrpc.Role.ASSISTANT, last.content, tool_calls=(*last.tool_calls, call)
                )
            else:
                messages.append(chatrpc.Message(chatrpc.Role.ASSISTANT, tool_calls=(call,)))
        elif isinstance(item, FunctionCallOutputItem):
            messages.append(
                chatrpc.Message(chatrpc.Role.TOOL, item.output, tool_call_id=item.call_id)
            )
        elif not isinstance(item, MessageItem):  # MCP items: only a response's input has them
            raise RequestError(
                f"An {item.type} item belongs in a response's input only.", param="input"
            )
        else:
            messages.append(_message(item))
    return messages


def _message(item: MessageItem) -> chatrpc.Message:
    content = item.content
    role = chatrpc.Role.SYSTEM if item.role == "developer" else chatrpc.Role(item.role)
    if isinstance(content, str):
        return chatrpc.Message(role, content)
    if any(isinstance(part, InputImage) for part in content):
        parts = tuple(
            chatrpc.ContentPart.image(p.image_url, p.detail or "")
            if isinstance(p, InputImage)
            else chatrpc.ContentPart(text=p.text)
            for p in content
        )
        return chatrpc.Message(role, parts=parts)
    return chatrpc.Message(role, "".join(p.text for p in content if not isinstance(p, InputImage)))


def _tool_choice(choice: str | FunctionToolChoice | None) -> chatrpc.ToolChoice | None:
    if choice is None:
        return None
    if isinstance(choice, str):
        return chatrpc.ToolChoice(chatrpc.ToolChoiceMode(choice))
    return chatrpc.ToolChoice.function(choice.name)


def _response_format(request: CreateResponseRequest) -> chatrpc.ResponseFormat | None:
    fmt = request.text.format if request.text else None
    if isinstance(fmt, TextFormatJsonSchema):
        return chatrpc.ResponseFormat(
            chatrpc.ResponseFormatType.JSON_SCHEMA, fmt.name, fmt.schema_, fmt.strict
        )
    if isinstance(fmt, TextFormatJsonObject):
        return chatrpc.ResponseFormat(chatrpc.ResponseFormatType.JSON_OBJECT)
    return None


def _echo(request: CreateResponseRequest) -> Echo:
    fmt = request.text.format if request.text and request.text.format else None
    choice = request.tool_choice
    return Echo(
        instructions=request.instructions,
        tools=[
            t.model_dump(exclude_none=False) if isinstance(t, FunctionTool) else tool_echo(t)
            for t in request.tools or ()
        ],
        tool_choice=choice.model_dump()
        if isinstance(choice, FunctionToolChoice)
        else choice or "auto",
        temperature=request.temperature,
        top_p=request.top_p,
        max_output_tokens=request.max_output_tokens,
        text_format=fmt.model_dump(by_alias=True, exclude_none=True) if fmt else {"type": "text"},
        parallel_tool_calls=request.parallel_tool_calls is not False,
        previous_response_id=request.previous_response_id,
        store=request.store,
        user=request.user,
        metadata=request.metadata or {},
        background=bool(request.background),
        conversation=conversation_of(request),
    )


# --- output ------------------------------------------------------------------------------------


def message_item(item_id: str, text: str, status: str) -> JsonObject:
    """An assistant `message` output item with one `output_text` part."""
    return {
        "id": item_id,
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": [text_part(text)],
    }


def text_part(text: str) -> JsonObject:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def call_item(call_id: str, name: str, arguments: str, status: str) -> JsonObject:
    """A `function_call` output item."""
    return {
        "id": call_item_id(call_id),
        "type": "function_call",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def usage_to_openai(usage: chatrpc.Usage) -> JsonObject:
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.total_tokens,
    }


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a response ended: its status, usage and error (None while in progress)."""

    status: str = "in_progress"
    usage: chatrpc.Usage | None = None
    error: JsonObject | None = None
    completed_at: int | None = None
    finish: chatrpc.FinishReason | None = None  # says why an incomplete response stopped


def status_of(finish: chatrpc.FinishReason) -> str:
    """`incomplete` when the reply hit max_output_tokens (or the window) or the upstream's
    content filter, else `completed`."""
    return "incomplete" if finish in _INCOMPLETE else "completed"


_INCOMPLETE = {
    chatrpc.FinishReason.LENGTH: "max_output_tokens",
    chatrpc.FinishReason.CONTENT_FILTER: "content_filter",
}


def response_body(
    echo: Echo,
    *,
    turn: str,
    created: int,
    model: str,
    thread_id: str,
    output: list[JsonObject],
    outcome: Outcome,
) -> JsonObject:
    """A `response` object."""
    body: JsonObject = {
        "id": response_id(turn),
        "object": "response",
        "created_at": created,
        "status": outcome.status,
        "completed_at": outcome.completed_at,
        "error": outcome.error,
        "incomplete_details": (
            {"reason": _INCOMPLETE.get(outcome.finish or chatrpc.FinishReason.LENGTH)}
            if outcome.status == "incomplete"
            else None
        ),
        "instructions": echo.instructions,
        "max_output_tokens": echo.max_output_tokens,
        "model": model,
        "output": output,
        "parallel_tool_calls": echo.parallel_tool_calls,
        "previous_response_id": echo.previous_response_id,
        "reasoning": None,
        "store": echo.store,
        "temperature": echo.temperature,
        "text": {"format": echo.text_format},
        "tool_choice": echo.tool_choice,
        "tools": echo.tools,
        "top_p": echo.top_p,
        "truncation": "auto",
        "metadata": echo.metadata,
        "background": echo.background,
    }
    if outcome.usage is not None:  # the schema has no null for these two
        body["usage"] = usage_to_openai(outcome.usage)
    if echo.user is not None:
        body["user"] = echo.user
    if thread_id:
        body["thread_id"] = thread_id
    if echo.conversation is not None:
        body["conversation"] = {"id": echo.conversation}
    return body


def stored_turn_to_openai(turn: chatrpc.StoredTurn) -> JsonObject:
    """A stored response, as GET /v1/responses/{id} returns it."""
    status = status_of(turn.finish_reason)
    echo = Echo(
        instructions=turn.instructions or None,
        previous_response_id=(
            response_id(turn.previous_turn_id) if turn.previous_turn_id else None
        ),
        user=turn.user or None,
        metadata=dict(turn.metadata),
    )
    return response_body(
        echo,
        turn=turn.turn_id,
        created=turn.created,
        model=turn.model,
        thread_id=turn.thread_id,
        output=reply_items(turn.turn_id, turn.reply, status),
        outcome=Outcome(
            status=status, usage=turn.usage, completed_at=turn.created, finish=turn.finish_reason
        ),
    )


def reply_items(turn: str, reply: chatrpc.Message, status: str) -> list[JsonObject]:
    """The output items of a stored reply: its text, then its function calls."""
    items = [message_item(message_item_id(turn), reply.content, status)] if reply.content else []
    items += [call_item(c.id, c.name, c.arguments, status) for c in reply.tool_calls]
    return items
