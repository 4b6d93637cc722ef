"""DB-GPT's chat request → the SDK's ChatRequest; no I/O."""

from __future__ import annotations

import chatrpc
from gateway.dbgpt.types import DbgptChatRequest
from gateway.http.errors import RequestError
from gateway.openai.convert import generation_config, message_to_sdk, mode_fields, non_empty


def dbgpt_request(request: DbgptChatRequest) -> chatrpc.ChatRequest:
    """The SDK request for a DB-GPT request: `messages` may be one string or a list of them
    (each a user message); user_name (or user) is the turn's user, sys_code and span_id are
    recorded in its metadata."""
    messages = request.messages
    if isinstance(messages, str):
        messages = [messages]
    max_tokens = request.max_new_tokens if request.max_tokens is None else request.max_tokens
    chat_mode = request.chat_mode or request.chat_model
    if request.chat_model and chat_mode != request.chat_model:
        raise RequestError("chat_mode and chat_model disagree.", param="chat_model")
    return chatrpc.ChatRequest(
        messages=tuple(
            chatrpc.Message(chatrpc.Role.USER, m) if isinstance(m, str) else message_to_sdk(m)
            for m in messages
        ),
        model=request.model,
        thread_id=non_empty(request.conv_uid, "conv_uid") or "",
        generation_config=generation_config(request, max_tokens),
        user=request.user_name or request.user or "",
        metadata={k: v for k in ("sys_code", "span_id") if (v := getattr(request, k))},
        **mode_fields(chat_mode, request.chat_param),
    )
