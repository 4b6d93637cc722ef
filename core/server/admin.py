"""AdminServicer: chatrpc.v1.AdminService, virtual keys and their spend, for admin keys only.

The ChatService guard does not front this service: every call checks its own admin key here
(UNAUTHENTICATED without a valid key, PERMISSION_DENIED for a valid non-admin one), and its
errors become statuses through core.server.errors like every other RPC's. After each change
the replica reloads its keys at once; the others within their refresh period.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import grpc

from chatrpc.v1 import admin_service_pb2 as apb, admin_service_pb2_grpc as apb_grpc
from core.auth import KeyLimits, KeyRing, digest
from core.errors import InvalidArgumentError, PermissionDeniedError, UnauthenticatedError
from core.keys.base import Budget, KeyStore, VirtualKey, check_name, new_secret
from core.keys.directory import KeyDirectory
from core.server.errors import status_on_error
from core.server.rpc import AUTHORIZATION

MAX_GRACE = 30 * 86400
Request = TypeVar("Request")
Response = TypeVar("Response")
Context = grpc.aio.ServicerContext[Any, Any]


def admin_only(
    method: Callable[[AdminServicer, Request], Awaitable[Response]],
) -> Callable[[AdminServicer, Request, Context], Awaitable[Response]]:
    """The handler around `method`: the admin key checked, errors mapped to statuses."""

    @functools.wraps(method)
    async def handler(self: AdminServicer, request: Request, context: Context) -> Response:
        async with status_on_error(context):
            self.check_admin(context)
            return await method(self, request)
        raise AssertionError("unreachable: status_on_error aborts")

    return handler


class AdminServicer(apb_grpc.AdminServiceServicer):
    """AdminService over the key store and this replica's KeyDirectory."""

    def __init__(self, admins: KeyRing, directory: KeyDirectory, store: KeyStore) -> None:
        self._admins = admins
        self._directory = directory
        self._store = store

    def check_admin(self, context: Context) -> None:
        metadata = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
        authorization = metadata.get(AUTHORIZATION)
        try:
            self._admins.identify(authorization)
        except UnauthenticatedError:
            self._directory.identify_key(authorization)  # UnauthenticatedError if no key at all
            raise PermissionDeniedError("This key is not an admin key.") from None

    @admin_only
    async def CreateKey(self, request: apb.CreateKeyRequest) -> apb.CreateKeyResponse:
        secret, now = new_secret(), time.time()
        key = replace(key_from_pb(request.key), digest=digest(secret), created=now, updated=now)
        await self._store.create_key(key)
        await self._directory.reload()
        return apb.CreateKeyResponse(key=key_to_pb(key), secret=secret)

    @admin_only
    async def ListKeys(self, request: apb.ListKeysRequest) -> apb.ListKeysResponse:
        return apb.ListKeysResponse(keys=[key_to_pb(k) for k in await self._store.list_keys()])

    @admin_only
    async def RotateKey(self, request: apb.RotateKeyRequest) -> apb.RotateKeyResponse:
        name = check_name(request.name)
        if not 0 <= request.grace_seconds <= MAX_GRACE:
            raise InvalidArgumentError(
                f"grace_seconds must be 0-{MAX_GRACE}", field="grace_seconds"
            )
        secret, now = new_secret(), time.time()
        key = await self._store.rotate_key(name, digest(secret), now + request.grace_seconds, now)
        await self._directory.reload()
        return apb.RotateKeyResponse(key=key_to_pb(key), secret=secret)

    @admin_only
    async def RevokeKey(self, request: apb.RevokeKeyRequest) -> apb.RevokeKeyResponse:
        key = await self._store.revoke_key(check_name(request.name), time.time())
        await self._directory.reload()
        return apb.RevokeKeyResponse(key=key_to_pb(key))

    @admin_only
    async def GetSpend(self, request: apb.GetSpendRequest) -> apb.GetSpendResponse:
        name = check_name(request.name)
        if not 0 <= request.days <= 366:
            raise InvalidArgumentError("days must be 0-366", field="days")
        return await spend_report(self._store, name, request.days or 31)


async def spend_report(store: KeyStore, name: str, days: int) -> apb.GetSpendResponse:
    """A key's spend rows over `days` days, with today's and this month's totals."""
    now = datetime.now(UTC)
    today, month = now.strftime("%Y-%m-%d"), now.strftime("%Y-%m-01")
    since = min((now - timedelta(days=days - 1)).strftime("%Y-%m-%d"), month)
    rows = await store.spend(name, since)
    response = apb.GetSpendResponse()
    for r in rows:
        if r.day >= (now - timedelta(days=days - 1)).strftime("%Y-%m-%d"):
            response.rows.append(
                apb.SpendRow(
                    day=r.day,
                    model=r.model,
                    prompt_tokens=r.prompt_tokens,
                    completion_tokens=r.completion_tokens,
                    cost_usd=r.cost_usd,
                )
            )
        tokens = r.prompt_tokens + r.completion_tokens
        if r.day >= month:
            response.tokens_this_month += tokens
            response.usd_this_month += r.cost_usd
        if r.day == today:
            response.tokens_today += tokens
            response.usd_today += r.cost_usd
    return response


def key_from_pb(key: apb.VirtualKey) -> VirtualKey:
    name = check_name(key.name, "key.name")
    owner = check_name(key.owner, "key.owner") if key.owner else name
    numbers = {
        "requests_per_minute": key.requests_per_minute,
        "tokens_per_minute": key.tokens_per_minute,
        "concurrent_streams": key.concurrent_streams,
        "tokens_per_day": key.tokens_per_day,
        "tokens_per_month": key.tokens_per_month,
        "usd_per_day": key.usd_per_day,
        "usd_per_month": key.usd_per_month,
    }
    for field, value in numbers.items():
        if value < 0:
            raise InvalidArgumentError(f"key.{field} must be >= 0", field=f"key.{field}")
    return VirtualKey(
        name=name,
        owner=owner,
        digest="",
        models=tuple(_model_name(m) for m in key.models),
        limits=KeyLimits(key.requests_per_minute, key.tokens_per_minute, key.concurrent_streams),
        budget=Budget(key.tokens_per_day, key.tokens_per_month, key.usd_per_day, key.usd_per_month),
        expires=key.expire_time.ToNanoseconds() / 1e9 if key.HasField("expire_time") else 0.0,
    )


def _model_name(model: str) -> str:
    if not 0 < len(model) <= 128 or not model.isprintable():
        raise InvalidArgumentError("key.models are 1-128 printable characters", field="key.models")
    return model


def key_to_pb(key: VirtualKey) -> apb.VirtualKey:
    message = apb.VirtualKey(
        name=key.name,
        owner=key.owner,
        models=list(key.models),
        requests_per_minute=key.limits.requests_per_minute,
        tokens_per_minute=key.limits.tokens_per_minute,
        concurrent_streams=key.limits.concurrent_streams,
        tokens_per_day=key.budget.tokens_per_day,
        tokens_per_month=key.budget.tokens_per_month,
        usd_per_day=key.budget.usd_per_day,
        usd_per_month=key.budget.usd_per_month,
    )
    for field, value in (
        ("expire_time", key.expires),
        ("revoke_time", key.revoked),
        ("create_time", key.created),
        ("previous_valid_until", key.previous_until),
    ):
        if value:
            getattr(message, field).FromNanoseconds(int(value * 1e9))
    return message
