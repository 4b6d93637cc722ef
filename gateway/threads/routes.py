"""chatrpc's own resources as one router: threads (and their data: search, export,
erasure) and knowledge spaces."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.threads import data, spaces, threads

router = APIRouter()
for _module in (spaces, threads, data):
    router.include_router(_module.router)
