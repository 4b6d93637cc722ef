"""The Responses API's `mcp` tools ⇄ the SDK's: the request side (tools, approval answers) and
the output side (McpItems as `mcp_list_tools`, `mcp_call`, `mcp_approval_request` items and
their stream events, in OpenAI's names and order).

Per item, as the core reports its states: `response.output_item.added`, then for a list
`response.mcp_list_tools.in_progress` … `.completed` / `.failed`; for a call
`response.mcp_call.in_progress`, `response.mcp_call_arguments.delta` and `.done` (the model's
arguments, whole), … `response.mcp_call.completed` / `.failed`; then
`response.output_item.done`. An approval request is added and done at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import chatrpc
from gateway.http.errors import RequestError
from gateway.openai.responses_types import (
    FunctionCallItem,
    FunctionCallOutputItem,
    InputItem,
    McpApprovalRequestItem,
    McpApprovalResponseItem,
    McpCallItem,
    McpListToolsItem,
    McpToolParam,
)

JsonObject = dict[str, Any]
_MCP_FIELD = re.compile(r"mcp_tools\[(\d+)\](.*)")
Emit = Callable[..., bytes]  # (event type, **fields) → its SSE frame


@dataclass(frozen=True, slots=True)
class McpInput:
    """A request's input with its MCP items sorted out: the rest (calls sent back as function
    calls and their outputs, for the model), the approval answers, and the tool lists sent
    back (by server label)."""

    items: str | list[InputItem]
    approvals: tuple[chatrpc.McpApprovalResponse, ...] = ()
    listed: dict[str, tuple[chatrpc.McpToolInfo, ...]] = field(default_factory=dict)


def split_mcp_input(items: str | list[InputItem]) -> McpInput:
    """See McpInput. A call that was run (an `mcp_call` item) stands for its approval request
    and answer, which are then history, not this turn's."""
    if isinstance(items, str):
        return McpInput(items)
    ran = {_suffix(i.id) for i in items if isinstance(i, McpCallItem)}
    rest: list[InputItem] = []
    approvals: list[chatrpc.McpApprovalResponse] = []
    listed: dict[str, tuple[chatrpc.McpToolInfo, ...]] = {}
    for item in items:
        if isinstance(item, McpApprovalResponseItem):
            if _suffix(item.approval_request_id) not in ran:
                answer = (item.approval_request_id, item.approve, item.reason or "")
                approvals.append(chatrpc.McpApprovalResponse(*answer))
        elif isinstance(item, McpListToolsItem):
            if item.error is None:
                listed[item.server_label] = tuple(
                    chatrpc.McpToolInfo(t.name, t.description or "", t.input_schema)
                    for t in item.tools
                )
        elif isinstance(item, McpApprovalRequestItem):
            if _suffix(item.id) not in ran:
                rest.append(_function_call(item.id, item.name, item.arguments))
        elif isinstance(item, McpCallItem):
            rest += _ran_call(item)
        else:
            rest.append(item)
    return McpInput(rest, tuple(approvals), listed)


def _suffix(item_id: str) -> str:
    return item_id.split("_", 1)[-1]


def _function_call(item_id: str, name: str, arguments: str) -> FunctionCallItem:
    return FunctionCallItem(
        type="function_call", call_id="call_" + _suffix(item_id), name=name, arguments=arguments
    )


def _ran_call(item: McpCallItem) -> list[InputItem]:
    call = _function_call(item.id, item.name, item.arguments)
    result = item.output if item.output is not None else f"Error: {item.error}"
    output = FunctionCallOutputItem(
        type="function_call_output", call_id=call.call_id, output=result
    )
    return [call, output]


def mcp_tool(
    param: McpToolParam, listed: dict[str, tuple[chatrpc.McpToolInfo, ...]]
) -> chatrpc.McpTool:
    """The SDK's McpTool for a request's `mcp` tool (`authorization` as a Bearer header; a
    tool list the input sent back for its server)."""
    allowed = param.allowed_tools
    names = allowed.tool_names or [] if not isinstance(allowed, list | None) else allowed or []
    approval = param.require_approval
    always: list[str] = []
    never: list[str] = []
    mode: str | None = None
    if isinstance(approval, str):
        mode = approval
    elif approval is not None:
        always = (approval.always.tool_names or []) if approval.always else []
        never = (approval.never.tool_names or []) if approval.never else []
    headers = dict(param.headers or {})
    if param.authorization:
        headers["Authorization"] = f"Bearer {param.authorization}"
    return chatrpc.McpTool(
        server_label=param.server_label,
        server_url=param.server_url or "",
        allowed_tools=tuple(names),
        require_approval=mode,
        always_approve_tools=tuple(always),
        never_approve_tools=tuple(never),
        headers=headers,
        listed_tools=listed.get(param.server_label, ()),
    )


def with_tool_param(
    exc: chatrpc.InvalidRequestError, tools: Sequence[object]
) -> chatrpc.InvalidRequestError | RequestError:
    """A core refusal of `mcp_tools[i]…` as the request names it, `tools[k]…` (the i-th `mcp`
    tool among all of them); any other refusal as it is."""
    match = _MCP_FIELD.fullmatch(exc.metadata.get("field", ""))
    if match is None:
        return exc
    positions = [k for k, tool in enumerate(tools) if isinstance(tool, McpToolParam)]
    index = int(match.group(1))
    if index >= len(positions):
        return exc
    return RequestError(exc.message, param=f"tools[{positions[index]}]{match.group(2)}")


def mcp_tools(
    tools: Sequence[object], listed: dict[str, tuple[chatrpc.McpToolInfo, ...]]
) -> tuple[chatrpc.McpTool, ...]:
    """The request's `mcp` tools as the SDK's."""
    return tuple(mcp_tool(t, listed) for t in tools if isinstance(t, McpToolParam))


def tool_echo(param: McpToolParam) -> JsonObject:
    """The tool as a response repeats it: never its headers or authorization."""
    return param.model_dump(exclude_none=True, exclude={"headers", "authorization"})


def item_json(item: chatrpc.McpItem) -> JsonObject:
    """An McpItem as its output item."""
    common = {"id": item.id, "type": str(item.type), "server_label": item.server_label}
    if item.type is chatrpc.McpItemType.LIST_TOOLS:
        tools = [
            {"name": t.name, "description": t.description, "input_schema": dict(t.input_schema)}
            for t in item.tools
        ]
        return {**common, "tools": tools, "error": item.error or None}
    if item.type is chatrpc.McpItemType.APPROVAL_REQUEST:
        return {**common, "name": item.name, "arguments": item.arguments}
    error = {"type": "mcp_tool_execution_error", "content": item.error} if item.error else None
    return {
        **common,
        "name": item.name,
        "arguments": item.arguments,
        "output": item.output if item.status is chatrpc.McpItemStatus.COMPLETED else None,
        "error": error,
        "status": str(item.status),
        "approval_request_id": item.approval_request_id or None,
    }


@dataclass(slots=True)
class _Placed:
    index: int
    item: chatrpc.McpItem


class McpEncoder:
    """The MCP items of one response: their events, and their place in its output."""

    def __init__(self) -> None:
        self._items: dict[str, _Placed] = {}

    def output(self) -> list[tuple[int, JsonObject]]:
        return [(p.index, item_json(p.item)) for p in self._items.values()]

    def encode(self, item: chatrpc.McpItem, emit: Emit, next_index: Callable[[], int]) -> bytes:
        placed = self._items.get(item.id)
        frames = b""
        if placed is None:
            placed = self._items[item.id] = _Placed(next_index(), item)
            frames += self._open(placed, emit)
        placed.item = item
        if item.status is not chatrpc.McpItemStatus.IN_PROGRESS:
            frames += self._close(placed, emit)
        return frames

    def _open(self, placed: _Placed, emit: Emit) -> bytes:
        item, where = placed.item, _where(placed)
        opening = {**item_json(item), **_opening_state(item)}
        frames = emit("response.output_item.added", output_index=placed.index, item=opening)
        if item.type is chatrpc.McpItemType.LIST_TOOLS:
            frames += emit("response.mcp_list_tools.in_progress", **where)
        elif item.type is chatrpc.McpItemType.CALL:
            frames += emit("response.mcp_call.in_progress", **where)
            frames += emit("response.mcp_call_arguments.delta", **where, delta=item.arguments)
            frames += emit("response.mcp_call_arguments.done", **where, arguments=item.arguments)
        return frames

    def _close(self, placed: _Placed, emit: Emit) -> bytes:
        item, where = placed.item, _where(placed)
        outcome = "failed" if item.status is chatrpc.McpItemStatus.FAILED else "completed"
        frames = b""
        if item.type is chatrpc.McpItemType.LIST_TOOLS:
            frames += emit(f"response.mcp_list_tools.{outcome}", **where)
        elif item.type is chatrpc.McpItemType.CALL:
            frames += emit(f"response.mcp_call.{outcome}", **where)
        return frames + emit(
            "response.output_item.done", output_index=placed.index, item=item_json(item)
        )


def _where(placed: _Placed) -> dict[str, Any]:
    return {"item_id": placed.item.id, "output_index": placed.index}


def _opening_state(item: chatrpc.McpItem) -> JsonObject:
    """What an item shows when added: a list without its tools yet, a call in progress."""
    if item.type is chatrpc.McpItemType.LIST_TOOLS:
        return {"tools": [], "error": None}
    if item.type is chatrpc.McpItemType.CALL:
        return {"status": "in_progress", "output": None, "error": None}
    return {}
