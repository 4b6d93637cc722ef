"""The domain's messages and tools in OpenAI's chat JSON shapes: what an OpenAI-compatible
upstream's body (core/backends/openai_wire.py), a Hugging Face chat template (the llama.cpp
backend) and the planner's tool instructions (core/pipeline/planning.py) all take. One floor
above core/types.py, so the planner and every backend may import it."""

from __future__ import annotations

from collections.abc import Iterable

from core.types import ContentPart, JsonObject, Message, Role, ToolCall, ToolSpec


def tool_call_to_openai(call: ToolCall) -> JsonObject:
    """A complete tool call in OpenAI's shape."""
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }


def message_to_openai(message: Message) -> JsonObject:
    """A message in OpenAI's shape (content is null beside tool calls, as OpenAI sends it; a
    message with image parts has OpenAI's list of text and image_url parts, URLs as given)."""
    item: JsonObject = {"role": message.role.value, "content": message.content}
    if message.parts:
        item["content"] = [_part_to_openai(p) for p in message.parts]
    if message.tool_calls:
        item["content"] = message.content or None
        item["tool_calls"] = [tool_call_to_openai(c) for c in message.tool_calls]
    if message.role is Role.TOOL:
        item["tool_call_id"] = message.tool_call_id
    elif message.name:
        item["name"] = message.name
    return item


def _part_to_openai(part: ContentPart) -> JsonObject:
    if not part.image_url:
        return {"type": "text", "text": part.text}
    image: JsonObject = {"url": part.image_url}
    if part.detail:
        image["detail"] = part.detail
    return {"type": "image_url", "image_url": image}


def tools_to_openai(tools: Iterable[ToolSpec]) -> list[JsonObject]:
    """Tools in OpenAI's function-tool shape."""
    shaped: list[JsonObject] = []
    for tool in tools:
        function: JsonObject = {"name": tool.name, "parameters": tool.parameters}
        if tool.description:
            function["description"] = tool.description
        if tool.strict is not None:
            function["strict"] = tool.strict
        shaped.append({"type": "function", "function": function})
    return shaped


def message_to_template(message: Message) -> JsonObject:
    """A message as Hugging Face chat templates take it: OpenAI's shape, content always text."""
    return {**message_to_openai(message), "content": message.content}
