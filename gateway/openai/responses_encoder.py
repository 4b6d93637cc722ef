"""ResponseEncoder: one turn's SDK stream events as Responses API stream events, and the
`response` object of a whole reply (gateway/http/turns.py's TurnEncoder).

The order follows OpenAI's: `response.created`, `response.in_progress`; per output item
`response.output_item.added` (then, for the message, `response.content_part.added`) before
its deltas (`response.output_text.delta`, `response.function_call_arguments.delta`); at the
finish each item's `…done` events in output order; then `response.completed` (or
`response.incomplete` when max_output_tokens was reached). A failure after the stream began
is one `response.failed` event. Every event carries its `sequence_number`, from 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

import chatrpc
from gateway.http.errors import service_error_to_http
from gateway.http.sse import named_frame
from gateway.openai.responses_convert import (
    Echo,
    JsonObject,
    Outcome,
    call_item,
    call_item_id,
    message_item,
    message_item_id,
    reply_items,
    response_body,
    status_of,
    text_part,
)
from gateway.openai.responses_mcp import McpEncoder, item_json

# HTTP status of a failure → ResponseErrorCode (the schema's closed list of codes)
_ERROR_CODES = {429: "rate_limit_exceeded", 400: "invalid_prompt"}


@dataclass(slots=True)
class _Call:
    """A function call being streamed: its item's place in the output and its parts."""

    output_index: int
    call_id: str
    name: str
    arguments: list[str] = field(default_factory=list)


class ResponseEncoder:
    """Encodes one stream (StreamStart first) as SSE frames; `body()` is the response object
    as the events so far describe it, `reply()` that of a whole reply."""

    end = b""  # the Responses API's streams have no end marker

    def __init__(self, echo: Echo, *, skip_through: int = -1) -> None:
        """`skip_through`: events numbered up to it are counted but not written (a stream
        resumed after that event: every replay numbers the same events alike)."""
        self._echo = echo
        self._skip_through = skip_through
        self._start = chatrpc.StreamStart(id="", model="", created=0)
        self._sequence = 0
        self._items = 0
        self._text: list[str] | None = None
        self._text_index = 0
        self._calls: dict[int, _Call] = {}
        self._finish: chatrpc.FinishReason | None = None
        self._outcome = Outcome()
        self._mcp = McpEncoder()

    def reply(self, reply: chatrpc.Reply) -> JsonObject:
        """The `response` object of a whole reply: its MCP items, its text, then its function
        calls."""
        status = status_of(reply.finish_reason)
        message = chatrpc.Message(
            chatrpc.Role.ASSISTANT, reply.content, tool_calls=reply.tool_calls
        )
        return response_body(
            self._echo,
            turn=reply.id,
            created=reply.created,
            model=reply.model,
            thread_id=reply.thread_id,
            # The MCP steps came first: the reply's text is the model's last step.
            output=[*map(item_json, reply.mcp_items), *reply_items(reply.id, message, status)],
            outcome=Outcome(
                status=status,
                usage=reply.usage,
                completed_at=reply.created,
                finish=reply.finish_reason,
            ),
        )

    def frames(self, event: chatrpc.StreamEvent) -> bytes | None:
        """The SSE frames for `event`, or None when it has nothing to send."""
        if isinstance(event, chatrpc.MessageDelta):
            return self._delta(event)
        if isinstance(event, chatrpc.StreamStart):
            self._start = event
            response = self.body()
            return self._event("response.created", response=response) + self._event(
                "response.in_progress", response=response
            )
        if isinstance(event, chatrpc.StreamFinish):
            self._finish = event.finish_reason
            return self._items_done()
        if isinstance(event, chatrpc.McpItem):
            return self._mcp.encode(event, self._event, self._next_index) or None
        finish = self._finish or chatrpc.FinishReason.STOP
        self._outcome = Outcome(
            status=status_of(finish), usage=event, completed_at=self._start.created, finish=finish
        )
        completed = self._outcome.status == "completed"
        kind = "response.completed" if completed else "response.incomplete"
        return self._event(kind, response=self.body())

    def failed(self, exc: chatrpc.ChatServiceError) -> bytes:
        """The `response.failed` event for a failure after the stream began."""
        status, body, _ = service_error_to_http(exc)
        error = {
            "code": _ERROR_CODES.get(status, "server_error"),
            "message": body["error"]["message"],
        }
        self._outcome = Outcome(status="failed", error=error)
        return self._event("response.failed", response=self.body())

    def cancelled(self) -> None:
        """Marks the response cancelled (it has no stream event of its own: the stream ends)."""
        self._outcome = Outcome(status="cancelled")

    def body(self) -> JsonObject:
        """The response object as the events so far describe it."""
        return response_body(
            self._echo,
            turn=self._start.id,
            created=self._start.created,
            model=self._start.model,
            thread_id=self._start.thread_id,
            output=self._output(),
            outcome=self._outcome,
        )

    def _delta(self, delta: chatrpc.MessageDelta) -> bytes | None:
        frames = b""
        if delta.content:
            if self._text is None:
                frames += self._open_text()
            assert self._text is not None
            self._text.append(delta.content)
            frames += self._event(
                "response.output_text.delta",
                item_id=message_item_id(self._start.id),
                output_index=self._text_index,
                content_index=0,
                delta=delta.content,
                logprobs=[],
            )
        for part in delta.tool_calls:
            call = self._calls.get(part.index)
            if call is None:
                call = self._calls[part.index] = _Call(self._items, part.id, part.name)
                self._items += 1
                item = call_item(call.call_id, call.name, "", "in_progress")
                frames += self._event(
                    "response.output_item.added", output_index=call.output_index, item=item
                )
            if part.arguments:
                call.arguments.append(part.arguments)
                frames += self._event(
                    "response.function_call_arguments.delta",
                    item_id=call_item_id(call.call_id),
                    output_index=call.output_index,
                    delta=part.arguments,
                )
        return frames or None

    def _next_index(self) -> int:
        self._items += 1
        return self._items - 1

    def _open_text(self) -> bytes:
        self._text, self._text_index = [], self._next_index()
        item = message_item(message_item_id(self._start.id), "", "in_progress")
        item["content"] = []  # its part is added next
        return self._event(
            "response.output_item.added", output_index=self._text_index, item=item
        ) + self._event(
            "response.content_part.added",
            item_id=item["id"],
            output_index=self._text_index,
            content_index=0,
            part=text_part(""),
        )

    def _items_done(self) -> bytes:
        """Each output item's closing events, in output order."""
        done: list[tuple[int, bytes]] = []
        status = self._item_status()
        if self._text is not None:
            item_id, text, index = (
                message_item_id(self._start.id),
                "".join(self._text),
                self._text_index,
            )
            frames = self._event(
                "response.output_text.done",
                item_id=item_id,
                output_index=index,
                content_index=0,
                text=text,
                logprobs=[],
            )
            frames += self._event(
                "response.content_part.done",
                item_id=item_id,
                output_index=index,
                content_index=0,
                part=text_part(text),
            )
            item = message_item(item_id, text, status)
            frames += self._event("response.output_item.done", output_index=index, item=item)
            done.append((index, frames))
        for call in self._calls.values():
            arguments = "".join(call.arguments)
            frames = self._event(
                "response.function_call_arguments.done",
                item_id=call_item_id(call.call_id),
                output_index=call.output_index,
                name=call.name,
                arguments=arguments,
            )
            item = call_item(call.call_id, call.name, arguments, status)
            frames += self._event(
                "response.output_item.done", output_index=call.output_index, item=item
            )
            done.append((call.output_index, frames))
        return b"".join(frames for _, frames in sorted(done))

    def _item_status(self) -> str:
        return "in_progress" if self._finish is None else status_of(self._finish)

    def _output(self) -> list[JsonObject]:
        """The output items in order; an item still streaming shows what it has so far."""
        status = self._item_status()
        items: list[tuple[int, JsonObject]] = []
        if self._text is not None:
            item = message_item(message_item_id(self._start.id), "".join(self._text), status)
            items.append((self._text_index, item))
        for call in self._calls.values():
            arguments = "".join(call.arguments)
            items.append((call.output_index, call_item(call.call_id, call.name, arguments, status)))
        items += self._mcp.output()
        return [item for _, item in sorted(items, key=lambda pair: pair[0])]

    def _event(self, kind: str, **fields: Any) -> bytes:
        sequence = self._sequence
        self._sequence += 1
        if sequence <= self._skip_through:
            return b""
        data = orjson.dumps({"type": kind, "sequence_number": sequence, **fields})
        return named_frame(kind.encode("ascii"), data)
