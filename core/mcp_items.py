"""The MCP values of a turn: what a request asks for (McpToolRequest, McpApproval) and the
items its stream reports (McpItem). No I/O, no transport."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any


class ApprovalMode(enum.Enum):
    """Whether a call waits for the caller's approval."""

    ALWAYS = "always"
    NEVER = "never"


@dataclass(frozen=True, slots=True)
class McpToolInfo:
    """A tool a server offers: its name, description and arguments' JSON Schema."""

    name: str
    description: str = ""
    input_schema: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class McpToolRequest:
    """A request's `mcp` tool: a server by label (registered) or URL (allow-listed), which of
    its tools to offer, when a call waits for approval, and headers for this turn only
    (never stored, never logged: kept out of repr). `approval` None: the server's default."""

    server_label: str
    server_url: str = ""
    allowed_tools: tuple[str, ...] = ()
    approval: ApprovalMode | None = None
    always_tools: tuple[str, ...] = ()
    never_tools: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    listed: tuple[McpToolInfo, ...] | None = None  # an earlier list of this conversation's


@dataclass(frozen=True, slots=True)
class McpApproval:
    """The caller's answer to an approval request."""

    approval_request_id: str
    approve: bool
    reason: str = ""


class McpItemType(enum.Enum):
    LIST_TOOLS = "mcp_list_tools"
    CALL = "mcp_call"
    APPROVAL_REQUEST = "mcp_approval_request"


class McpStatus(enum.Enum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class McpItem:
    """A step of a turn's MCP tool loop, as its stream reports it: each event carries the
    item's whole state so far. `call_id` is the model's tool-call id (internal: the thread
    stores the call under it)."""

    item_id: str
    type: McpItemType
    status: McpStatus
    server_label: str
    tools: tuple[McpToolInfo, ...] = ()
    name: str = ""
    arguments: str = ""
    output: str = ""
    error: str = ""
    approval_request_id: str = ""
    call_id: str = field(default="", compare=False)

    def done(self, output: str = "", error: str = "") -> McpItem:
        """The item completed with `output`, or failed with `error`."""
        status = McpStatus.FAILED if error else McpStatus.COMPLETED
        return replace(self, status=status, output=output, error=error)


def item_id(prefix: str, call_id: str) -> str:
    """An item's id from its call's id: `call_<x>` → `<prefix>_<x>` (mcp_, mcpr_)."""
    return f"{prefix}_{call_id.removeprefix('call_')}"


def call_id_of(approval_request_id: str) -> str:
    """The call an approval request is for: `mcpr_<x>` → `call_<x>`."""
    return "call_" + approval_request_id.removeprefix("mcpr_")
