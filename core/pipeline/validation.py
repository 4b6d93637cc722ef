"""validate_turn(): every range and limit a turn must meet, checked before any model work.

Pure functions; each failure is an InvalidArgumentError naming the offending field, as the
gRPC API is public and trusts no caller (the gateway's own checks are only about HTTP shape).
"""

from __future__ import annotations

import json
import math
import re

from core.catalog import ModelSpec
from core.errors import InvalidArgumentError
from core.memory.lifecycle import thread_options
from core.pipeline.patterns import pattern_problem
from core.settings import Limits
from core.types import (
    ID_PATTERN,
    ChatMode,
    GenerationParams,
    JsonObject,
    Message,
    ResponseFormatType,
    Role,
    ToolChoiceMode,
    Turn,
)

TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def check_thread_id(thread_id: str) -> str:
    """`thread_id` if well formed; InvalidArgumentError otherwise (also when empty)."""
    if not ID_PATTERN.fullmatch(thread_id):
        _fail("thread_id must be 1-128 characters from [A-Za-z0-9_.:-].", "thread_id")
    return thread_id


def check_turn_id(turn_id: str, field: str = "turn_id") -> str:
    """`turn_id` if well formed (a reply id); InvalidArgumentError otherwise (also when empty)."""
    if not ID_PATTERN.fullmatch(turn_id):
        _fail(f"{field} must be 1-128 characters from [A-Za-z0-9_.:-].", field)
    return turn_id


def check_previous_turn(turn: Turn) -> None:
    check_turn_id(turn.previous_turn_id, "previous_turn_id")
    if turn.thread_id:
        _fail("Set thread_id or previous_turn_id, not both.", "previous_turn_id")


def validate_turn(turn: Turn, spec: ModelSpec, limits: Limits) -> None:
    """Raises InvalidArgumentError for the first problem found in `turn` (its mode's ids are
    check_mode's, which runs first: the mode decides the model)."""
    if turn.prompt:
        _check_prompt(turn)
    elif turn.messages or not turn.mcp_approvals:  # approvals alone may continue a turn
        # With approvals, the messages may end with the assistant's calls that wait for them.
        _check_messages(turn.messages, limits, closed=not turn.mcp_approvals)
    _check_mcp(turn)
    if turn.previous_turn_id:
        check_previous_turn(turn)
    if turn.thread_id:
        check_thread_id(turn.thread_id)
    if turn.thread_id or turn.previous_turn_id:
        for i, message in enumerate(turn.messages):
            if "\x00" in message.content:  # PostgreSQL text cannot store it; refuse up front
                _fail("Messages stored in a thread cannot contain NUL.", f"messages[{i}].content")
    _check_params(turn.params, spec, limits)
    _check_images(turn.messages, spec)
    _check_tools(turn, limits)
    check_metadata(turn.metadata, limits)
    if len(turn.user) > limits.max_user_chars:
        _fail(f"user is longer than {limits.max_user_chars} characters.", "user")
    if turn.thread_id:
        thread_options(turn.metadata)  # a thread's retention keys, checked before model work


MAX_MCP_SERVERS = 8


def _check_mcp(turn: Turn) -> None:
    if len(turn.mcp_tools) > MAX_MCP_SERVERS:
        _fail(f"mcp_tools has more than {MAX_MCP_SERVERS} servers.", "mcp_tools")
    if turn.mcp_tools and (turn.params.choice_count or 1) > 1:
        _fail("MCP tools run for one choice only.", "generation_config.choice_count")
    for i, tool in enumerate(turn.mcp_tools):
        if any(len(k) > 256 or len(v) > 8192 for k, v in tool.headers):
            _fail("MCP headers are limited to 256/8192 characters.", f"mcp_tools[{i}].headers")


def check_metadata(metadata: tuple[tuple[str, str], ...], limits: Limits) -> None:
    """A turn's or a thread's metadata within the limits (count, key and value sizes)."""
    if len(metadata) > limits.max_metadata:
        _fail(f"metadata has more than {limits.max_metadata} entries.", "metadata")
    for key, value in metadata:
        if not 0 < len(key) <= limits.max_metadata_key_chars:
            _fail(
                f"metadata keys must be 1-{limits.max_metadata_key_chars} characters.", "metadata"
            )
        if len(value) > limits.max_metadata_value_chars:
            _fail(
                f"metadata[{key!r}] is longer than {limits.max_metadata_value_chars}.", "metadata"
            )


def check_thread_messages(messages: tuple[Message, ...], limits: Limits) -> None:
    """Messages written to a thread outside a turn: each as a turn's, at most max_messages,
    none holding NUL (PostgreSQL text cannot store it)."""
    if len(messages) > limits.max_messages:
        _fail(f"messages has more than {limits.max_messages} entries.", "messages")
    for i, message in enumerate(messages):
        _check_message(message, f"messages[{i}]", limits)
        if "\x00" in message.content:
            _fail("Messages stored in a thread cannot contain NUL.", f"messages[{i}].content")


def _fail(message: str, field: str) -> None:
    raise InvalidArgumentError(message, field=field)


MAX_PROMPT_CHARS = 100_000


def _check_prompt(turn: Turn) -> None:
    """A text completion: the raw prompt alone, with sampling settings and nothing that needs
    messages (a thread, tools, a format, a mode)."""
    others = {
        "messages": bool(turn.messages),
        "thread_id": bool(turn.thread_id),
        "previous_turn_id": bool(turn.previous_turn_id),
        "tools": bool(turn.tools),
        "mcp_tools": bool(turn.mcp_tools),
        "response_format": turn.response_format.type is not ResponseFormatType.TEXT,
        "mode": turn.mode is not ChatMode.NORMAL,
    }
    for field, present in others.items():
        if present:
            _fail(f"A prompt (text completion) cannot be combined with {field}.", field)
    if len(turn.prompt) > MAX_PROMPT_CHARS:
        _fail(f"prompt is longer than {MAX_PROMPT_CHARS} characters.", "prompt")


def _check_messages(messages: tuple[Message, ...], limits: Limits, closed: bool = True) -> None:
    if not messages:
        _fail("messages must contain at least one message.", "messages")
    if len(messages) > limits.max_messages:
        _fail(f"messages has more than {limits.max_messages} entries.", "messages")
    total = 0
    for i, message in enumerate(messages):
        _check_message(message, f"messages[{i}]", limits)
        total += len(message.content)
    if total > limits.max_total_chars:
        _fail(f"messages hold more than {limits.max_total_chars} characters.", "messages")
    if closed and messages[-1].role is Role.ASSISTANT:
        _fail("The last message must not be from the assistant.", f"messages[{len(messages) - 1}]")
    if not any(m.role in (Role.USER, Role.TOOL) for m in messages):
        _fail("messages must contain a user or tool message.", "messages")


def _check_message(message: Message, field: str, limits: Limits) -> None:
    if len(message.content) > limits.max_message_chars:
        _fail(
            f"{field}.content is longer than {limits.max_message_chars} characters.",
            f"{field}.content",
        )
    if len(message.name) > limits.max_name_chars:
        _fail(f"{field}.name is longer than {limits.max_name_chars} characters.", f"{field}.name")
    if (
        message.role in (Role.USER, Role.SYSTEM)
        and not message.content.strip()
        and not message.parts
    ):
        _fail(f"{field}.content must not be empty.", f"{field}.content")
    if message.role is Role.TOOL and not message.tool_call_id:
        _fail(f"{field}.tool_call_id is required on tool messages.", f"{field}.tool_call_id")
    if message.tool_calls and message.role is not Role.ASSISTANT:
        _fail(f"{field}.tool_calls is allowed on assistant messages only.", f"{field}.tool_calls")
    if message.role is Role.ASSISTANT and not message.content and not message.tool_calls:
        _fail(f"{field} needs content or tool_calls.", f"{field}.content")
    for j, call in enumerate(message.tool_calls):
        where = f"{field}.tool_calls[{j}]"
        if not call.id or not TOOL_NAME.fullmatch(call.name):
            _fail(f"{where} needs an id and a valid function name.", where)
        if not isinstance(_json_or_none(call.arguments), dict):
            _fail(f"{where}.arguments must be a JSON object.", f"{where}.arguments")


def _json_or_none(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return None


MAX_IMAGES = 16
MAX_IMAGE_DATA_BYTES = 20 * 1024 * 1024  # of data: URLs, in all
MAX_IMAGE_URL_CHARS = 8192  # an https URL
DATA_URL = re.compile(r"data:image/[A-Za-z0-9.+-]+;base64,[A-Za-z0-9+/=\s]+")


def _check_images(messages: tuple[Message, ...], spec: ModelSpec) -> None:
    """Image parts: user messages only, a model that takes them, https or data: URLs (never
    fetched here: they go to the model as given), bounded in count and in data size."""
    count, data = 0, 0
    for i, message in enumerate(messages):
        if message.parts and message.role is not Role.USER:
            _fail(f"messages[{i}].parts are allowed on user messages only.", f"messages[{i}].parts")
        for j, part in enumerate(message.parts):
            if not part.image_url:
                continue
            field = f"messages[{i}].parts[{j}]"
            if not spec.vision:
                _fail(f"The model {spec.name!r} does not take image parts (image_url).", field)
            url = part.image_url
            if url.startswith("data:"):
                if not DATA_URL.fullmatch(url):
                    _fail(f"{field} must be a base64 data: URL of an image MIME type.", field)
                data += len(url)
            elif not url.startswith("https://") or len(url) > MAX_IMAGE_URL_CHARS:
                _fail(f"{field} must be an https URL of at most {MAX_IMAGE_URL_CHARS} characters"
                      " or a data: URL.", field)  # fmt: skip
            count += 1
    if count > MAX_IMAGES:
        _fail(f"A request may carry at most {MAX_IMAGES} images.", "messages")
    if data > MAX_IMAGE_DATA_BYTES:
        _fail(f"Image data: URLs may hold at most {MAX_IMAGE_DATA_BYTES} bytes in all.", "messages")


# Each sampling field's range: (low, high, low excluded), OpenAI's where OpenAI defines one.
PARAM_RANGES: dict[str, tuple[float, float, bool]] = {
    "temperature": (0.0, 2.0, False),
    "top_p": (0.0, 1.0, True),
    "seed": (-(2**63), 2**63 - 1, False),  # int64, as the contract's field
    "presence_penalty": (-2.0, 2.0, False),
    "frequency_penalty": (-2.0, 2.0, False),
    "repetition_penalty": (0.0, 2.0, True),
}


def _check_params(params: GenerationParams, spec: ModelSpec, limits: Limits) -> None:
    field = "generation_config"
    for name, (low, high, open_low) in PARAM_RANGES.items():
        value = getattr(params, name)
        if value is None:
            continue
        if not (low < value <= high if open_low else low <= value <= high):  # NaN fails both
            bound = "greater than" if open_low else "at least"
            _fail(f"{name} must be {bound} {low:g} and at most {high:g}.", f"{field}.{name}")
    n, cap = params.max_tokens, spec.output_limit
    if n is not None and not 1 <= n <= cap:
        what = "output limit" if spec.max_output_tokens else "context window"
        name = params.max_tokens_field or "max_tokens"
        _fail(f"{name} must be between 1 and the model's {what} ({cap}).", f"{field}.{name}")
    _check_choices(params, limits)
    _check_extra(params, spec)
    if len(params.stop) > limits.max_stop:
        _fail(f"stop has more than {limits.max_stop} entries.", f"{field}.stop")
    if any(not 0 < len(s) <= limits.max_stop_chars for s in params.stop):
        _fail(f"each stop string must be 1-{limits.max_stop_chars} characters.", f"{field}.stop")


MAX_EXTRA_PARAMS = 16
MAX_EXTRA_BYTES = 16_384  # the extra fields' JSON, in all


def _check_extra(params: GenerationParams, spec: ModelSpec) -> None:
    """Provider fields: only those the model's catalog entry lists, bounded in count and size."""
    field = "generation_config.extra_params"
    for name in params.extra:
        if name not in spec.extra_params:
            allowed = ", ".join(sorted(spec.extra_params)) or "none"
            _fail(
                f"The model {spec.name!r} does not take the parameter {name!r} "
                f"(its extra parameters: {allowed}).",
                f"{field}.{name}",
            )
    if len(params.extra) > MAX_EXTRA_PARAMS:
        _fail(f"extra_params has more than {MAX_EXTRA_PARAMS} fields.", field)
    if params.extra and len(json.dumps(params.extra)) > MAX_EXTRA_BYTES:
        _fail(f"extra_params is larger than {MAX_EXTRA_BYTES} bytes of JSON.", field)


def _check_choices(params: GenerationParams, limits: Limits) -> None:
    """choice_count and top_logprobs are bounded: each costs generations or memory."""
    field = "generation_config"
    count = params.choice_count
    if count is not None and not 1 <= count <= limits.max_choices:
        _fail(
            f"choice_count (n) must be between 1 and {limits.max_choices}.",
            f"{field}.choice_count",
        )
    top = params.top_logprobs
    if top is not None and not 0 <= top <= limits.max_top_logprobs:
        _fail(
            f"top_logprobs must be between 0 and {limits.max_top_logprobs}.",
            f"{field}.top_logprobs",
        )
    if top is not None and not params.logprobs:
        _fail("top_logprobs requires logprobs to be true.", f"{field}.top_logprobs")


def _check_tools(turn: Turn, limits: Limits) -> None:
    if len(turn.tools) > limits.max_tools:
        _fail(f"tools has more than {limits.max_tools} entries.", "tools")
    names: set[str] = set()
    for i, tool in enumerate(turn.tools):
        if not TOOL_NAME.fullmatch(tool.name):
            _fail("tool names must be 1-64 characters from [A-Za-z0-9_-].", f"tools[{i}].name")
        if tool.name in names:
            _fail(f"tool name {tool.name!r} is declared twice.", f"tools[{i}].name")
        names.add(tool.name)
        _check_schema(tool.parameters, f"tools[{i}].parameters", limits)
    choice = turn.tool_choice
    if choice.mode in (ToolChoiceMode.REQUIRED, ToolChoiceMode.FUNCTION) and not turn.tools:
        _fail("tool_choice requires tools.", "tool_choice")
    if choice.mode is ToolChoiceMode.FUNCTION and choice.name not in names:
        _fail(
            f"tool_choice names {choice.name!r}, which is not in tools.",
            "tool_choice.function_name",
        )
    fmt = turn.response_format
    if fmt.strict is not None and fmt.type is not ResponseFormatType.JSON_SCHEMA:
        _fail("response_format.strict applies to JSON_SCHEMA only.", "response_format.strict")
    if fmt.type is ResponseFormatType.JSON_SCHEMA:
        if fmt.schema is None:
            _fail(
                "response_format.json_schema is required for JSON_SCHEMA.",
                "response_format.json_schema",
            )
        else:
            _check_schema(fmt.schema, "response_format.json_schema", limits)


def _check_schema(schema: JsonObject, field: str, limits: Limits) -> None:
    size = len(json.dumps(schema, ensure_ascii=False))
    if size > limits.max_tool_schema_bytes:
        _fail(f"{field} is larger than {limits.max_tool_schema_bytes} bytes.", field)
    if _depth(schema) > limits.max_tool_schema_depth:
        _fail(f"{field} is nested deeper than {limits.max_tool_schema_depth} levels.", field)
    if any(isinstance(v, float) and not math.isfinite(v) for v in _leaves(schema)):
        _fail(f"{field} holds a non-finite number.", field)
    for pattern in _patterns(schema):
        problem = pattern_problem(pattern)
        if problem is not None:
            _fail(f"{field} has a pattern that {problem}: {pattern[:80]!r}.", field)


def _patterns(schema: JsonObject) -> list[str]:
    """Every JSON-Schema regex in `schema`: `pattern` values and `patternProperties` keys."""
    found: list[str] = []
    stack: list[object] = [schema]
    while stack:
        value = stack.pop()
        if isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, dict):
            if isinstance(value.get("pattern"), str):
                found.append(value["pattern"])
            if isinstance(value.get("patternProperties"), dict):
                found.extend(value["patternProperties"])
            stack.extend(value.values())
    return found


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _leaves(value: object) -> list[object]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def check_mode(turn: Turn) -> None:
    """The id a mode needs (app_id, space_id, flow_id) is present and well formed."""
    required = {ChatMode.APP: "app_id", ChatMode.KNOWLEDGE: "space_id", ChatMode.FLOW: "flow_id"}
    field = required.get(turn.mode)
    if field and not getattr(turn, field):
        _fail(f"{field} is required when mode is {turn.mode.name}.", field)
    if field and not ID_PATTERN.fullmatch(getattr(turn, field)):
        _fail(f"{field} must be 1-128 characters from [A-Za-z0-9_.:-].", field)
