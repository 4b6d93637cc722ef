"""The pydantic model of DB-GPT's chat request (HTTP shape only; the core checks ranges)."""

from __future__ import annotations

from typing import Literal

from pydantic import StrictBool, StrictStr

from gateway.openai.types import ChatMessage, ChatModeName, Int32, Sampling


class DbgptChatRequest(Sampling):
    """POST /api/v2/chat/completions, in DB-GPT's shape (`messages` may be one string).

    DB-GPT's own client sends every field of its request model, nulls and defaults included;
    fields we do not serve are accepted only at values that change nothing.
    """

    # One string, or a list of strings (each a user message, DB-GPT's Union[str, List[str]])
    # or of messages.
    messages: StrictStr | list[StrictStr | ChatMessage]
    chat_model: ChatModeName | None = None  # the seed's parameter table spells chat_mode so
    conv_uid: StrictStr | None = None
    max_new_tokens: Int32 | None = None
    span_id: StrictStr | None = None
    sys_code: StrictStr | None = None
    user_name: StrictStr | None = None
    top_k: Literal[-1, 0] | None = None  # -1/0: off (top-k sampling is not served)
    n: Literal[1] | None = None
    incremental: Literal[True] | None = None  # deltas; "full text every time" is not served
    enable_vis: StrictBool | None = None  # replies carry no vis markup either way
    # chatrpc extension (SGLang's and OpenRouter's name): true adds a reasoning model's
    # thinking as `reasoning_content`, as on /v1; DB-GPT clients get the answer alone by default.
    include_reasoning: StrictBool | None = None
