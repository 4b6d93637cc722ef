"""Pydantic models for the Responses API request subset the gateway accepts (HTTP shape only).

As gateway/openai/types.py does for chat completions: strict types, NaN refused, and fields we
do not serve refused by name. Input items are told apart by `type`; a message item may omit
it (OpenAI's EasyInputMessage).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictStr,
    Tag,
)

from gateway.http.body import StrictModel as _Strict
from gateway.openai.types import Int32, Number

ItemStatus = Literal["in_progress", "completed", "incomplete"]


class InputText(_Strict):
    """A text part of a user, system or developer message."""

    type: Literal["input_text"]
    text: StrictStr


class OutputText(_Strict):
    """A text part of an assistant message (a previous response's output sent back)."""

    type: Literal["output_text"]
    text: StrictStr
    annotations: list[Any] | None = None
    logprobs: list[Any] | None = None


class InputImage(_Strict):
    """An image part of a user message, by URL (https or data:; never fetched by us). Images
    uploaded as files (`file_id`) are not served."""

    type: Literal["input_image"]
    image_url: StrictStr
    detail: Literal["auto", "low", "high"] | None = None


TextPart = Annotated[InputText | OutputText | InputImage, Field(discriminator="type")]


class _Item(_Strict):
    """What every input item may carry besides its own fields (a previous output's id and
    status, sent back with it)."""

    id: StrictStr | None = None
    status: ItemStatus | None = None


class MessageItem(_Item):
    """A message; `developer` is OpenAI's newer name for `system`."""

    type: Literal["message"] = "message"
    role: Literal["user", "system", "developer", "assistant"]
    content: StrictStr | list[TextPart]


class FunctionCallItem(_Item):
    """A function call the model made (a previous response's output sent back)."""

    type: Literal["function_call"]
    call_id: StrictStr
    name: StrictStr
    arguments: StrictStr


class FunctionCallOutputItem(_Item):
    """The result of a function call, for the model to read."""

    type: Literal["function_call_output"]
    call_id: StrictStr
    output: StrictStr


class McpApprovalResponseItem(_Strict):
    """The caller's answer to an `mcp_approval_request` of the previous response."""

    type: Literal["mcp_approval_response"]
    approval_request_id: StrictStr
    approve: StrictBool
    reason: StrictStr | None = None
    id: StrictStr | None = None


class McpListedTool(_Strict):
    name: StrictStr
    description: StrictStr | None = None
    input_schema: dict[str, Any]
    annotations: dict[str, Any] | None = None


class McpListToolsItem(_Strict):
    """An earlier response's tool list, sent back: the server is not listed again."""

    type: Literal["mcp_list_tools"]
    id: StrictStr
    server_label: StrictStr
    tools: list[McpListedTool]
    error: StrictStr | None = None


class McpApprovalRequestItem(_Strict):
    """An earlier response's approval request, sent back (the call waiting for it)."""

    type: Literal["mcp_approval_request"]
    id: StrictStr
    server_label: StrictStr
    name: StrictStr
    arguments: StrictStr


class McpCallItem(_Strict):
    """An earlier response's MCP call, sent back: a call and its result, for the model."""

    type: Literal["mcp_call"]
    id: StrictStr
    server_label: StrictStr
    name: StrictStr
    arguments: StrictStr
    output: StrictStr | None = None
    error: Any = None
    status: StrictStr | None = None
    approval_request_id: StrictStr | None = None


# An item's `type` → its model's tag. The tags are the class names, so that an error's param
# reads "input[0].content" (gateway.http.body.loc_to_param drops capitalised union parts).
_ITEM_TAGS = {
    "message": "MessageItem",
    "function_call": "FunctionCallItem",
    "function_call_output": "FunctionCallOutputItem",
    "mcp_approval_response": "McpApprovalResponseItem",
    "mcp_list_tools": "McpListToolsItem",
    "mcp_approval_request": "McpApprovalRequestItem",
    "mcp_call": "McpCallItem",
}


def _item_tag(value: Any) -> str | None:
    """The tag of an input item; None (a 400 naming the item) for an item that is not an
    object or whose `type` is not a string (an object or a list was a TypeError: a 500)."""
    kind = value.get("type", "message") if isinstance(value, dict) else getattr(value, "type", None)
    return _ITEM_TAGS.get(kind, kind) if isinstance(kind, str) else None


InputItem = Annotated[
    Annotated[MessageItem, Tag("MessageItem")]
    | Annotated[FunctionCallItem, Tag("FunctionCallItem")]
    | Annotated[FunctionCallOutputItem, Tag("FunctionCallOutputItem")]
    | Annotated[McpApprovalResponseItem, Tag("McpApprovalResponseItem")]
    | Annotated[McpListToolsItem, Tag("McpListToolsItem")]
    | Annotated[McpApprovalRequestItem, Tag("McpApprovalRequestItem")]
    | Annotated[McpCallItem, Tag("McpCallItem")],
    Discriminator(_item_tag),
]


class FunctionTool(_Strict):
    """A function the model may call; the only tool type served. (FunctionSpec's fields
    after `type`, not inherited: the first of several errors names the param, so `type`
    comes first.)"""

    type: Literal["function"]
    name: StrictStr
    description: StrictStr | None = None
    parameters: dict[str, Any] | None = None
    strict: StrictBool | None = None


class McpToolFilter(_Strict):
    """`allowed_tools` or an approval rule as a filter: tool names (read_only is not served)."""

    tool_names: list[StrictStr] | None = None


class McpApprovalFilter(_Strict):
    always: McpToolFilter | None = None
    never: McpToolFilter | None = None


class McpToolParam(_Strict):
    """An MCP server whose tools the service runs (core/mcp): a registered `server_label`, or
    an allow-listed `server_url`. `headers` and `authorization` go to that server for this
    request only; they are never stored, logged or repeated in the response."""

    type: Literal["mcp"]
    server_label: StrictStr
    server_url: StrictStr | None = None
    allowed_tools: list[StrictStr] | McpToolFilter | None = None
    require_approval: Literal["always", "never"] | McpApprovalFilter | None = None
    headers: dict[str, StrictStr] | None = None
    authorization: StrictStr | None = None


def _tool_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else value.type
    return "McpToolParam" if kind == "mcp" else "FunctionTool"  # others fail on `type`


RequestTool = Annotated[
    Annotated[FunctionTool, Tag("FunctionTool")] | Annotated[McpToolParam, Tag("McpToolParam")],
    Discriminator(_tool_tag),
]


class FunctionToolChoice(_Strict):
    type: Literal["function"]
    name: StrictStr


class TextFormatText(_Strict):
    type: Literal["text"]


class TextFormatJsonObject(_Strict):
    type: Literal["json_object"]


class TextFormatJsonSchema(_Strict):
    type: Literal["json_schema"]
    name: StrictStr
    schema_: dict[str, Any] = Field(alias="schema")
    description: StrictStr | None = None
    strict: StrictBool | None = None


TextFormat = Annotated[
    TextFormatText | TextFormatJsonObject | TextFormatJsonSchema, Field(discriminator="type")
]


class ConversationRef(_Strict):
    """`conversation` as an object: the conversation's id."""

    id: StrictStr


class TextConfig(_Strict):
    format: TextFormat | None = None


class CreateResponseRequest(_Strict):
    """POST /v1/responses. Fields outside this model go to the core as provider parameters
    (`extra_params`), as on chat completions: refused by name unless the model allows them."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False, strict=True)

    model: StrictStr = ""
    input: StrictStr | list[InputItem]
    instructions: StrictStr | None = None
    previous_response_id: StrictStr | None = None
    conversation: StrictStr | ConversationRef | None = None
    store: StrictBool = True
    stream: StrictBool = False
    max_output_tokens: Int32 | None = None
    temperature: Number | None = None
    top_p: Number | None = None
    tools: list[RequestTool] | None = None
    tool_choice: Literal["none", "auto", "required"] | FunctionToolChoice | None = None
    parallel_tool_calls: StrictBool | None = None
    text: TextConfig | None = None
    user: StrictStr | None = None
    metadata: dict[str, StrictStr] | None = None
    # Accepted only at the value that describes what we do: older turns of a long
    # conversation are left out of the prompt to fit the window.
    truncation: Literal["auto"] | None = None
    # True: the turn runs detached from this request (gateway/openai/responses_background.py).
    background: StrictBool | None = None
    include: Annotated[list[StrictStr], Field(max_length=0)] | None = None  # nothing extra
    reasoning: None = None
