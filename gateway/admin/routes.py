"""The admin face as one router (app.py mounts it only when CHATRPC_GATEWAY_ADMIN_ROUTES is on)."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.admin import keys

router = APIRouter()
for _module in (keys,):
    router.include_router(_module.router)
