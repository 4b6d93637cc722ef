"""GET /v1/models and GET /v1/models/{model}: the core's models in OpenAI's list shape."""

from __future__ import annotations

from fastapi import APIRouter, Request

from gateway.convert import list_to_openai, model_to_openai
from gateway.errors import RequestError
from gateway.responses import JsonResponse
from gateway.state import core_client

router = APIRouter()


@router.get("/v1/models")
async def list_models(request: Request) -> JsonResponse:
    """Lists the models the core serves, the default first."""
    client, call = core_client(request)
    return JsonResponse(list_to_openai(map(model_to_openai, await client.list_models(**call))))


@router.get("/v1/models/{model:path}")
async def retrieve_model(model: str, request: Request) -> JsonResponse:
    """One model by id; 404 `model_not_found` if the core does not serve it."""
    client, call = core_client(request)
    for found in await client.list_models(**call):
        if found.id == model:
            return JsonResponse(model_to_openai(found))
    raise RequestError(
        f"The model {model!r} does not exist.", param="model", status=404, code="model_not_found"
    )
