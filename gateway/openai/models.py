"""GET /v1/models and GET /v1/models/{model}: the core's models in OpenAI's list shape."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

import chatrpc
from gateway.http.context import Context
from gateway.http.errors import RequestError
from gateway.http.responses import JsonResponse, list_to_openai

router = APIRouter()


@router.get("/v1/models")
async def list_models(context: Context) -> JsonResponse:
    """Lists the models the core serves, the default first."""
    models = await context.client.list_models(**context.call)
    return JsonResponse(list_to_openai(map(model_to_openai, models)))


@router.get("/v1/models/{model:path}")
async def retrieve_model(model: str, context: Context) -> JsonResponse:
    """One model by id; 404 `model_not_found` if the core does not serve it."""
    for found in await context.client.list_models(**context.call):
        if found.id == model:
            return JsonResponse(model_to_openai(found))
    raise RequestError(
        f"The model {model!r} does not exist.", param="model", status=404, code="model_not_found"
    )


def model_to_openai(model: chatrpc.Model) -> dict[str, Any]:
    return {"id": model.id, "object": "model", "created": model.created, "owned_by": model.owned_by}
