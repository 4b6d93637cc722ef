"""McpLoop: one turn's MCP tool loop, between the pipeline's TurnStart and its finish.

1. List each server's tools (McpItem LIST_TOOLS; a server that fails is reported and left
   out) and offer them to the model beside the caller's own function tools (a caller's
   function of the same name wins).
2. Answer the approvals the request carries: the previous turn ended with the model's calls
   waiting (its stored reply holds them); approved calls run, denied ones are told to the
   model as denied, calls that needed no approval run too.
3. Generate. Text passes through as it streams; calls of MCP tools are held back and run
   (McpItem CALL, in progress then completed or failed), their results fed back, and the
   model asked again, until it answers, calls one of the caller's functions (the turn ends
   with those calls, as without MCP), or a call needs approval (the turn ends with McpItem
   APPROVAL_REQUEST; nothing runs until the caller answers). After `max_calls` calls the
   model is asked once more without tools, so it must answer.

What the turn adds to its thread besides its new messages and reply goes into a Transcript:
the approved calls' results (before the new messages) and each step's calls and results
(after them), so the stored turn reads as the model saw it.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from core.errors import InvalidArgumentError
from core.mcp.client import McpConnector, McpFailure
from core.mcp.config import McpServer
from core.mcp_items import McpItem, McpItemType, McpStatus, McpToolInfo, call_id_of, item_id
from core.types import (
    ChatEvent,
    FinishReason,
    Message,
    Role,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    ToolChoiceMode,
    ToolSpec,
    Turn,
    TurnFinish,
    TurnUsage,
    Usage,
)

Step = Callable[[tuple[ToolSpec, ...], ToolChoice], AsyncIterator[ChatEvent]]
"""One generation (choice 0) with these tools: its events, ending with TurnFinish, TurnUsage."""


@dataclass(slots=True)
class Transcript:
    """Messages a turn adds around its new ones (see the module docstring)."""

    lead: list[Message] = field(default_factory=list)
    steps: list[Message] = field(default_factory=list)


@dataclass(slots=True)
class _Generated:
    """One step's outcome: the MCP calls it made, whether it called the caller's functions,
    and its finish."""

    calls: dict[int, list[str]] = field(default_factory=dict)  # index -> [id, name, args…]
    client_calls: bool = False
    finish: TurnFinish | None = None

    def mcp_calls(self) -> list[ToolCall]:
        return [
            ToolCall(parts[0], parts[1], "".join(parts[2:]))
            for _, parts in sorted(self.calls.items())
        ]


class McpLoop:
    """The MCP tool loop of one turn over `servers` (resolved and checked already)."""

    def __init__(
        self,
        connector: McpConnector,
        servers: tuple[McpServer, ...],
        turn: Turn,
        context: tuple[tuple[Message, ...], tuple[Message, ...]],
        transcript: Transcript,
    ) -> None:
        """`context`: the thread's stored history and the turn's new messages."""
        self._connector = connector
        self._servers = servers
        self._turn = turn
        self._history, self._new = context
        self.transcript = transcript
        self._offered: dict[str, McpServer] = {}
        self._specs: list[ToolSpec] = []
        self._usage = Usage()

    async def run(self, step: Step) -> AsyncGenerator[ChatEvent, None]:
        for server in self._servers:
            async for item in self._list(server):
                yield item
        async for item in self._answer_approvals():
            yield item
        calls = 0
        while True:
            allowed = calls < self._connector.limits.max_calls
            tools = (*self._turn.tools, *self._specs) if allowed else self._turn.tools
            choice = self._turn.tool_choice if allowed else ToolChoice(ToolChoiceMode.NONE)
            generated = _Generated()
            async for event in self._generate(step, tools, choice, generated):
                yield event
            mcp_calls = generated.mcp_calls()
            if not mcp_calls or generated.client_calls or not allowed:
                why = (
                    "Not run: the model also called a function the caller runs."
                    if generated.client_calls
                    else f"Not run: the turn made its {calls} MCP calls."
                )
                for call in mcp_calls:  # never silently dropped
                    yield self._call_item(call).done(error=why)
                assert generated.finish is not None
                finish = generated.finish
                if mcp_calls and not generated.client_calls:  # no call is left in the reply
                    finish = replace(finish, finish_reason=FinishReason.STOP)
                yield finish
                yield TurnUsage(self._usage)
                return
            calls += len(mcp_calls)
            async for event in self._run_calls(mcp_calls):
                yield event
            if self.transcript.steps[-1].role is Role.ASSISTANT:  # waiting for approval
                yield TurnFinish(FinishReason.TOOL_CALLS)
                yield TurnUsage(self._usage)
                return

    async def _list(self, server: McpServer) -> AsyncIterator[McpItem]:
        if server.listed is not None:  # the conversation holds its list: not listed again
            self._offer(server, tuple(t for t in server.listed if server.offers(t.name)))
            return
        item = McpItem(
            "mcpl_" + secrets.token_hex(12),
            McpItemType.LIST_TOOLS,
            McpStatus.IN_PROGRESS,
            server.label,
        )
        yield item
        try:
            tools = await self._connector.list_tools(server)
        except McpFailure as failure:
            yield item.done(error=failure.message)
            return
        yield replace(item.done(), tools=tools)
        self._offer(server, tools)

    def _offer(self, server: McpServer, tools: tuple[McpToolInfo, ...]) -> None:
        own = {t.name for t in self._turn.tools}
        for tool in tools:
            if tool.name not in own and tool.name not in self._offered:
                self._offered[tool.name] = server
                self._specs.append(ToolSpec(tool.name, tool.description, dict(tool.input_schema)))

    async def _generate(
        self, step: Step, tools: tuple[ToolSpec, ...], choice: ToolChoice, out: _Generated
    ) -> AsyncIterator[ChatEvent]:
        """The step's events, its MCP calls held back into `out`."""
        names: dict[int, str] = {}
        async for event in step(tools, choice):
            if isinstance(event, ToolCallDelta):
                name = names.setdefault(event.index, event.name)
                if name in self._offered:
                    parts = out.calls.setdefault(event.index, [event.id, name])
                    parts.append(event.arguments)
                    continue
                out.client_calls = True
                yield event
            elif isinstance(event, TurnFinish):
                out.finish = event
            elif isinstance(event, TurnUsage):
                self._usage = Usage(
                    self._usage.prompt_tokens + event.usage.prompt_tokens,
                    self._usage.completion_tokens + event.usage.completion_tokens,
                )
            else:
                yield event

    async def _run_calls(self, calls: list[ToolCall]) -> AsyncIterator[ChatEvent]:
        """Runs the step's calls, or asks approval for those that need it (running none)."""
        waiting = [c for c in calls if self._offered[c.name].needs_approval(c.name)]
        self.transcript.steps.append(Message(Role.ASSISTANT, "", tool_calls=tuple(calls)))
        if waiting:
            for call in waiting:
                yield McpItem(
                    item_id("mcpr", call.id),
                    McpItemType.APPROVAL_REQUEST,
                    McpStatus.COMPLETED,
                    self._offered[call.name].label,
                    name=call.name,
                    arguments=call.arguments,
                    call_id=call.id,
                )
            return
        for call in calls:
            async for event in self._call(call, self.transcript.steps):
                yield event

    async def _call(
        self, call: ToolCall, into: list[Message], approval: str = ""
    ) -> AsyncIterator[McpItem]:
        """Runs one call: its item in progress, then done; its result appended `into`."""
        item = replace(self._call_item(call), approval_request_id=approval)
        yield item
        try:
            output = await self._connector.call_tool(
                self._offered[call.name], call.name, _arguments(call.arguments)
            )
        except McpFailure as failure:
            into.append(Message(Role.TOOL, f"Error: {failure.message}", tool_call_id=call.id))
            yield item.done(error=failure.message)
            return
        into.append(Message(Role.TOOL, output, tool_call_id=call.id))
        yield item.done(output=output)

    def _call_item(self, call: ToolCall) -> McpItem:
        server = self._offered.get(call.name)
        return McpItem(
            item_id("mcp", call.id),
            McpItemType.CALL,
            McpStatus.IN_PROGRESS,
            server.label if server else "",
            name=call.name,
            arguments=call.arguments,
            call_id=call.id,
        )

    async def _answer_approvals(self) -> AsyncIterator[McpItem]:
        """Runs or denies the calls the previous turn left waiting (see the module docstring)."""
        if not self._turn.mcp_approvals:
            return
        answers = {call_id_of(a.approval_request_id): a for a in self._turn.mcp_approvals}
        # The waiting calls end the stored history, or (a client that sends its whole
        # conversation back) the turn's new messages: their results follow them.
        pending = _pending_calls(self._history)
        lead = self.transcript.lead
        if not pending:
            pending, lead = _pending_calls(self._new), self.transcript.steps
        for call in pending:
            answer = answers.pop(call.id, None)
            server = self._offered.get(call.name)
            if server is None:
                lead.append(_told(call, "Not run: the tool is no longer offered."))
            elif answer is not None and not answer.approve:
                lead.append(_told(call, f"The user denied this call. {answer.reason}".strip()))
            elif answer is None and server.needs_approval(call.name):
                lead.append(_told(call, "Not run: the user gave no approval."))
            else:
                approval = item_id("mcpr", call.id) if answer is not None else ""
                async for item in self._call(call, lead, approval):
                    yield item


def check_approvals(turn: Turn, history: tuple[Message, ...], new: tuple[Message, ...]) -> None:
    """INVALID_ARGUMENT, before any work, for an answer to no call left waiting at the end of
    the thread's history or of the turn's new messages."""
    if not turn.mcp_approvals:
        return
    waiting = {call.id for call in (*_pending_calls(history), *_pending_calls(new))}
    for i, answer in enumerate(turn.mcp_approvals):
        if call_id_of(answer.approval_request_id) not in waiting:
            raise InvalidArgumentError(
                f"{answer.approval_request_id!r} is no approval request the previous turn left"
                " waiting.",
                field=f"mcp_approvals[{i}].approval_request_id",
            )


def _pending_calls(history: tuple[Message, ...]) -> list[ToolCall]:
    """The calls of the history's last message, if it is an assistant's waiting calls."""
    if not history or history[-1].role is not Role.ASSISTANT:
        return []
    return list(history[-1].tool_calls)


def _told(call: ToolCall, text: str) -> Message:
    return Message(Role.TOOL, text, tool_call_id=call.id)


def _arguments(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
