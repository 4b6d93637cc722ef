"""The contract's MCP messages ⇄ core.mcp_items, for the servicer (core.server.convert
delegates here)."""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf import json_format, struct_pb2

from chatrpc.v1 import chat_service_pb2 as pb
from core.errors import InvalidArgumentError
from core.mcp_items import (
    ApprovalMode,
    McpApproval,
    McpItem,
    McpItemType,
    McpStatus,
    McpToolInfo,
    McpToolRequest,
)

_APPROVAL = {
    pb.MCP_APPROVAL_MODE_ALWAYS: ApprovalMode.ALWAYS,
    pb.MCP_APPROVAL_MODE_NEVER: ApprovalMode.NEVER,
}
_TYPES_PB = {
    McpItemType.LIST_TOOLS: pb.MCP_ITEM_TYPE_LIST_TOOLS,
    McpItemType.CALL: pb.MCP_ITEM_TYPE_CALL,
    McpItemType.APPROVAL_REQUEST: pb.MCP_ITEM_TYPE_APPROVAL_REQUEST,
}
_STATUS_PB = {
    McpStatus.IN_PROGRESS: pb.MCP_ITEM_STATUS_IN_PROGRESS,
    McpStatus.COMPLETED: pb.MCP_ITEM_STATUS_COMPLETED,
    McpStatus.FAILED: pb.MCP_ITEM_STATUS_FAILED,
}


def mcp_tools_from_pb(tools: Iterable[pb.McpTool]) -> tuple[McpToolRequest, ...]:
    out = []
    for i, tool in enumerate(tools):
        if tool.require_approval not in (pb.MCP_APPROVAL_MODE_UNSPECIFIED, *_APPROVAL):
            raise InvalidArgumentError(
                "require_approval is not a known mode.", field=f"mcp_tools[{i}].require_approval"
            )
        out.append(
            McpToolRequest(
                server_label=tool.server_label,
                server_url=tool.server_url,
                allowed_tools=tuple(tool.allowed_tools),
                approval=_APPROVAL.get(tool.require_approval),
                always_tools=tuple(tool.always_approve_tools),
                never_tools=tuple(tool.never_approve_tools),
                headers=tuple(sorted(tool.headers.items())),
                listed=tuple(_tool_from_pb(t) for t in tool.listed_tools) or None,
            )
        )
    return tuple(out)


def mcp_approvals_from_pb(approvals: Iterable[pb.McpApprovalResponse]) -> tuple[McpApproval, ...]:
    return tuple(
        McpApproval(a.approval_request_id, approve=a.approve, reason=a.reason) for a in approvals
    )


def mcp_item_to_pb(item: McpItem) -> pb.McpItem:
    return pb.McpItem(
        id=item.item_id,
        type=_TYPES_PB[item.type],
        status=_STATUS_PB[item.status],
        server_label=item.server_label,
        tools=[_tool_to_pb(t) for t in item.tools],
        name=item.name,
        arguments=item.arguments,
        output=item.output,
        error=item.error,
        approval_request_id=item.approval_request_id,
    )


def _tool_from_pb(tool: pb.McpToolInfo) -> McpToolInfo:
    schema = json_format.MessageToDict(tool.input_schema)
    return McpToolInfo(name=tool.name, description=tool.description, input_schema=schema)


def _tool_to_pb(tool: McpToolInfo) -> pb.McpToolInfo:
    schema = struct_pb2.Struct()
    json_format.ParseDict(dict(tool.input_schema), schema)
    return pb.McpToolInfo(name=tool.name, description=tool.description, input_schema=schema)
