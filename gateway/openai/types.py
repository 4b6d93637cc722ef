"""Pydantic models for the OpenAI request subset the gateway accepts (HTTP shape only).

Ranges and limits are the core's job (it validates every request itself); these models
check types strictly (`"stream": "yes"` is an error, NaN and Infinity are refused) and
refuse fields we do not serve, naming them, rather than silently behaving differently.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from gateway.http.body import StrictModel as _Strict

Number = StrictFloat | StrictInt
# The contract's integer fields: a value outside them is a 400 naming the field here, as the
# protobuf field could not hold it.
Int32 = Annotated[StrictInt, Field(ge=-(2**31), le=2**31 - 1)]
Int64 = Annotated[StrictInt, Field(ge=-(2**63), le=2**63 - 1)]
ChatModeName = Literal["chat_normal", "chat_app", "chat_knowledge", "chat_flow"]


class TextPart(_Strict):
    """A text content part."""

    type: Literal["text"]
    text: StrictStr


class ImageUrl(_Strict):
    url: StrictStr
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(_Strict):
    """An image content part (an https or data: URL, never fetched by us); the core accepts
    it for vision models only."""

    type: Literal["image_url"]
    image_url: ImageUrl


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class FunctionCall(_Strict):
    name: StrictStr
    arguments: StrictStr


class ToolCall(_Strict):
    """A tool call in an assistant message of the history."""

    id: StrictStr
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(_Strict):
    """One message; `developer` is OpenAI's newer name for `system`."""

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: StrictStr | list[ContentPart] | None = None
    name: StrictStr | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: StrictStr | None = None
    refusal: StrictStr | None = None
    # A reasoning model's thinking, as replies carry it; accepted back in the history (clients
    # that resend reply messages whole) and never given to the model.
    reasoning_content: StrictStr | None = None


class FunctionSpec(_Strict):
    name: StrictStr
    description: StrictStr | None = None
    parameters: dict[str, Any] | None = None
    strict: StrictBool | None = None


class Tool(_Strict):
    type: Literal["function"]
    function: FunctionSpec


class NamedFunction(_Strict):
    name: StrictStr


class NamedToolChoice(_Strict):
    type: Literal["function"]
    function: NamedFunction


class JsonSchemaFormat(_Strict):
    name: StrictStr
    description: StrictStr | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: StrictBool | None = None


class ResponseFormat(_Strict):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None


class StreamOptions(_Strict):
    include_usage: StrictBool | None = None
    include_obfuscation: StrictBool | None = None


class Sampling(_Strict):
    """What both chat requests take besides their messages: the model, streaming, the caller,
    DB-GPT's chat mode with its parameter (an app, knowledge space or flow id; a chatrpc
    extension on /v1) and the GenerationConfig fields, named as the contract names them (the
    OpenAI request adds `seed`; each has its own other spelling of `max_tokens`)."""

    model: StrictStr = ""
    stream: StrictBool = False
    user: StrictStr | None = None
    chat_mode: ChatModeName | None = None  # None: chat_normal
    chat_param: StrictStr | None = None
    temperature: Number | None = None
    top_p: Number | None = None
    max_tokens: Int32 | None = None
    stop: StrictStr | list[StrictStr] | None = None
    presence_penalty: Number | None = None
    frequency_penalty: Number | None = None
    repetition_penalty: Number | None = None


class ChatCompletionRequest(Sampling):
    """POST /v1/chat/completions. Fields outside this model go to the core as provider
    parameters (`extra_params`): it accepts those the model's catalog entry lists and refuses
    any other with a 400 naming it."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False, strict=True)

    messages: list[ChatMessage]
    stream_options: StreamOptions | None = None
    max_completion_tokens: Int32 | None = None
    seed: Int64 | None = None
    n: Int32 | None = None
    logprobs: StrictBool | None = None
    top_logprobs: Int32 | None = None
    metadata: dict[str, StrictStr] | None = None
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: StrictBool | None = None
    response_format: ResponseFormat | None = None
    # chatrpc extension: the conversation thread (the seed clients send an integer).
    thread_id: Annotated[StrictStr | StrictInt | None, Field(union_mode="left_to_right")] = None
    # Accepted only at its "off" value, which changes nothing.
    store: Literal[False] | None = None


class EmbeddingRequest(_Strict):
    """POST /v1/embeddings. `input` is a string or a list of them, or token ids (a list of
    integers, or a list of such lists); integers are bounded as the contract's int32."""

    model: StrictStr = ""
    input: StrictStr | list[StrictStr | Int32 | list[Int32]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: Int32 | None = None
    user: StrictStr | None = None
