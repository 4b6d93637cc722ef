"""The SDK's MCP types (the service runs MCP tools for a turn) and their contract conversions.

Example:
    >>> weather = chatrpc.McpTool("weather", require_approval="never")
    >>> for event in client.chat_stream("Weather in Paris?", mcp_tools=[weather]):
    ...     if isinstance(event, chatrpc.McpItem):
    ...         print(event.type, event.status, event.output)
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format, struct_pb2

from chatrpc.v1 import chat_service_pb2 as pb


class McpApprovalMode(enum.StrEnum):
    """Whether a call of an MCP tool waits for the caller's approval."""

    ALWAYS = "always"
    NEVER = "never"


@dataclass(frozen=True, slots=True)
class McpToolInfo:
    """A tool an MCP server offers: its name, description and arguments' JSON Schema."""

    name: str
    description: str = ""
    input_schema: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class McpTool:
    """An MCP server whose tools the service runs in a turn: one the operator registered
    (by `server_label`), or an allow-listed `server_url`. `headers` go to the server for this
    turn only; the service never stores or logs them.

    Attributes:
        server_label: The registered server's label (or a name for `server_url`).
        server_url: A streamable HTTP URL on the operator's allow-list; empty for a
            registered server.
        allowed_tools: Only these tools are offered (empty: all the operator allows).
        require_approval: "always" or "never"; None: the server's default ("always").
        always_approve_tools: Tools whose calls always wait for approval.
        never_approve_tools: Tools whose calls never wait.
        headers: HTTP headers for the server (an Authorization token).
        listed_tools: The server's tools as an earlier step of the conversation listed them:
            used without listing the server again.
    """

    server_label: str
    server_url: str = ""
    allowed_tools: Sequence[str] = ()
    require_approval: McpApprovalMode | str | None = None
    always_approve_tools: Sequence[str] = ()
    never_approve_tools: Sequence[str] = ()
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    listed_tools: Sequence[McpToolInfo] = ()


@dataclass(frozen=True, slots=True)
class McpApprovalResponse:
    """An answer to an McpItem of type APPROVAL_REQUEST (its `id`), sent with the next turn."""

    approval_request_id: str
    approve: bool
    reason: str = ""


class McpItemType(enum.StrEnum):
    LIST_TOOLS = "mcp_list_tools"
    CALL = "mcp_call"
    APPROVAL_REQUEST = "mcp_approval_request"


class McpItemStatus(enum.StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class McpItem:
    """A step of the service's MCP tool loop: a server's tool list, a call, or a call waiting
    for approval (the turn ended with it). In a stream each event carries the item's whole
    state so far; `Reply.mcp_items` has each in its final state."""

    id: str
    type: McpItemType
    status: McpItemStatus
    server_label: str
    tools: tuple[McpToolInfo, ...] = ()
    name: str = ""
    arguments: str = ""
    output: str = ""
    error: str = ""
    approval_request_id: str = ""


_MODES = {
    McpApprovalMode.ALWAYS: pb.MCP_APPROVAL_MODE_ALWAYS,
    McpApprovalMode.NEVER: pb.MCP_APPROVAL_MODE_NEVER,
}
_TYPES = {
    pb.MCP_ITEM_TYPE_LIST_TOOLS: McpItemType.LIST_TOOLS,
    pb.MCP_ITEM_TYPE_CALL: McpItemType.CALL,
    pb.MCP_ITEM_TYPE_APPROVAL_REQUEST: McpItemType.APPROVAL_REQUEST,
}
_STATUSES = {
    pb.MCP_ITEM_STATUS_IN_PROGRESS: McpItemStatus.IN_PROGRESS,
    pb.MCP_ITEM_STATUS_COMPLETED: McpItemStatus.COMPLETED,
    pb.MCP_ITEM_STATUS_FAILED: McpItemStatus.FAILED,
}


def mcp_tool_to_pb(tool: McpTool) -> pb.McpTool:
    mode = tool.require_approval
    return pb.McpTool(
        server_label=tool.server_label,
        server_url=tool.server_url,
        allowed_tools=list(tool.allowed_tools),
        require_approval=(
            _MODES[McpApprovalMode(mode)] if mode is not None else pb.MCP_APPROVAL_MODE_UNSPECIFIED
        ),
        always_approve_tools=list(tool.always_approve_tools),
        never_approve_tools=list(tool.never_approve_tools),
        headers=dict(tool.headers),
        listed_tools=[_tool_to_pb(t) for t in tool.listed_tools],
    )


def _tool_to_pb(tool: McpToolInfo) -> pb.McpToolInfo:
    schema = struct_pb2.Struct()
    json_format.ParseDict(dict(tool.input_schema), schema)
    return pb.McpToolInfo(name=tool.name, description=tool.description, input_schema=schema)


def mcp_approval_to_pb(answer: McpApprovalResponse) -> pb.McpApprovalResponse:
    return pb.McpApprovalResponse(
        approval_request_id=answer.approval_request_id, approve=answer.approve, reason=answer.reason
    )


def mcp_item_from_pb(item: pb.McpItem) -> McpItem:
    return McpItem(
        id=item.id,
        type=_TYPES[item.type],
        status=_STATUSES[item.status],
        server_label=item.server_label,
        tools=tuple(
            McpToolInfo(t.name, t.description, json_format.MessageToDict(t.input_schema))
            for t in item.tools
        ),
        name=item.name,
        arguments=item.arguments,
        output=item.output,
        error=item.error,
        approval_request_id=item.approval_request_id,
    )


def mcp_items_from_pb(items: Iterable[pb.McpItem]) -> tuple[McpItem, ...]:
    return tuple(mcp_item_from_pb(item) for item in items)
