"""OpenAI's face as one router: a new OpenAI route is a module here plus a line below."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.openai import (
    background,
    chat,
    completions,
    conversations,
    embeddings,
    models,
    responses,
)

router = APIRouter()
for _module in (background, chat, completions, conversations, embeddings, models, responses):
    router.include_router(_module.router)
