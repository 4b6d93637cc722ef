"""Pydantic models for the Responses API request subset the gateway accepts (HTTP shape only).

As gateway/openai/types.py does for chat completions: strict types, NaN refused, and fields we
do not serve refused by name. Input items are told apart by `type`; a message item may omit
it (OpenAI's EasyInputMessage).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    Discriminator,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    Tag,
)

from gateway.http.body import StrictModel as _Strict
from gateway.openai.types import Number

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


TextPart = Annotated[InputText | OutputText, Field(discriminator="type")]


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


# An item's `type` → its model's tag. The tags are the class names, so that an error's param
# reads "input[0].content" (gateway.http.body.loc_to_param drops capitalised union parts).
_ITEM_TAGS = {
    "message": "MessageItem",
    "function_call": "FunctionCallItem",
    "function_call_output": "FunctionCallOutputItem",
}


def _item_tag(value: Any) -> str | None:
    """The tag of an input item; None (a 400 naming the item) for an item that is not an
    object or whose `type` is not a string (an object or a list was a TypeError: a 500)."""
    kind = value.get("type", "message") if isinstance(value, dict) else getattr(value, "type", None)
    return _ITEM_TAGS.get(kind, kind) if isinstance(kind, str) else None


InputItem = Annotated[
    Annotated[MessageItem, Tag("MessageItem")]
    | Annotated[FunctionCallItem, Tag("FunctionCallItem")]
    | Annotated[FunctionCallOutputItem, Tag("FunctionCallOutputItem")],
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


class TextConfig(_Strict):
    format: TextFormat | None = None


class CreateResponseRequest(_Strict):
    """POST /v1/responses. Fields outside this model are refused with a 400 naming them."""

    model: StrictStr = ""
    input: StrictStr | list[InputItem]
    instructions: StrictStr | None = None
    previous_response_id: StrictStr | None = None
    store: StrictBool = True
    stream: StrictBool = False
    max_output_tokens: StrictInt | None = None
    temperature: Number | None = None
    top_p: Number | None = None
    tools: list[FunctionTool] | None = None
    tool_choice: Literal["none", "auto", "required"] | FunctionToolChoice | None = None
    parallel_tool_calls: StrictBool | None = None
    text: TextConfig | None = None
    user: StrictStr | None = None
    metadata: dict[str, StrictStr] | None = None
    # Accepted only at the values that describe what we do: older turns of a long
    # conversation are left out of the prompt to fit the window, and nothing runs in the
    # background.
    truncation: Literal["auto"] | None = None
    background: Literal[False] | None = None
    include: Annotated[list[StrictStr], Field(max_length=0)] | None = None  # nothing extra
    reasoning: None = None
