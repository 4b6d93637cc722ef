"""Admin routes: virtual keys and their spend, over the core's AdminService (through the SDK).

Served only when CHATRPC_GATEWAY_ADMIN_ROUTES is on, and listed in the OpenAPI document only
with CHATRPC_GATEWAY_ADMIN_IN_OPENAPI. The gateway forwards the Bearer key; the core decides:
401 without a valid key, 403 for a key that is not an admin key.

POST /v1/admin/keys, GET /v1/admin/keys, POST /v1/admin/keys/{name}/rotate,
POST /v1/admin/keys/{name}/revoke, GET /v1/admin/keys/{name}/spend.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field, StrictFloat, StrictInt, StrictStr

import chatrpc
from gateway.http.body import StrictModel
from gateway.http.context import Context
from gateway.http.responses import JsonResponse, list_to_openai

router = APIRouter()


class KeyRequest(StrictModel):
    """POST /v1/admin/keys: the key to create (the core checks every value)."""

    name: StrictStr
    owner: StrictStr = ""
    models: list[StrictStr] = Field(default_factory=list)
    requests_per_minute: StrictInt = 0
    tokens_per_minute: StrictInt = 0
    concurrent_streams: StrictInt = 0
    tokens_per_day: StrictInt = 0
    tokens_per_month: StrictInt = 0
    usd_per_day: StrictFloat | StrictInt = 0.0
    usd_per_month: StrictFloat | StrictInt = 0.0
    expires_at: StrictFloat | StrictInt = 0.0  # unix seconds; 0: never


class RotateRequest(StrictModel):
    """POST /v1/admin/keys/{name}/rotate."""

    grace_seconds: StrictInt = 0


def key_json(key: chatrpc.VirtualKey) -> dict[str, Any]:
    return {"object": "admin.key", **asdict(key)}


def _admin(context: Context) -> tuple[chatrpc.AsyncAdminClient, dict[str, Any]]:
    return chatrpc.AsyncAdminClient(context.client), dict(context.call)


@router.post("/v1/admin/keys")
async def create_key(context: Context) -> JsonResponse:
    """Creates a key; the answer holds its secret, shown this once."""
    body = await context.body(KeyRequest)
    fields = body.model_dump()
    fields["expires"] = float(fields.pop("expires_at"))
    fields["models"] = tuple(fields["models"])
    admin, call = _admin(context)
    created = await admin.create_key(chatrpc.VirtualKey(**fields), **call)
    return JsonResponse({**key_json(created.key), "secret": created.secret}, status_code=201)


@router.get("/v1/admin/keys")
async def list_keys(context: Context) -> JsonResponse:
    """Every key, without secrets."""
    admin, call = _admin(context)
    return JsonResponse(list_to_openai(map(key_json, await admin.list_keys(**call))))


@router.post("/v1/admin/keys/{name}/rotate")
async def rotate_key(name: str, context: Context) -> JsonResponse:
    """A new secret; the old one works `grace_seconds` longer."""
    body = await context.body(RotateRequest)
    admin, call = _admin(context)
    rotated = await admin.rotate_key(name, grace_seconds=body.grace_seconds, **call)
    return JsonResponse({**key_json(rotated.key), "secret": rotated.secret})


@router.post("/v1/admin/keys/{name}/revoke")
async def revoke_key(name: str, context: Context) -> JsonResponse:
    """Revokes the key on every replica (idempotent)."""
    admin, call = _admin(context)
    return JsonResponse(key_json(await admin.revoke_key(name, **call)))


@router.get("/v1/admin/keys/{name}/spend")
async def spend(
    name: str, context: Context, days: Annotated[int, Query(ge=0, le=366)] = 0
) -> JsonResponse:
    """The key's spend per UTC day and model, with today's and this month's totals."""
    admin, call = _admin(context)
    report = await admin.get_spend(name, days=days, **call)
    return JsonResponse({"object": "admin.spend", "key": name, **asdict(report)})
