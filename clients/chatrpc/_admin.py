"""AsyncAdminClient: AdminService (virtual keys and their spend) for admin keys.

It rides an AsyncClient's channel (`AsyncAdminClient(client)`), so one connection serves both
services; every call takes the admin key as `api_key` (or the client's own).

    >>> admin = AsyncAdminClient(client)
    >>> created = await admin.create_key(VirtualKey(name="team-a", tokens_per_day=100_000),
    ...                                  api_key=ADMIN_KEY)
    >>> created.secret  # shown this once
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc

from chatrpc._async_client import AsyncClient
from chatrpc._contract import assign, new
from chatrpc._data import SpendReport, spend_from_pb
from chatrpc._errors import from_rpc_error
from chatrpc.v1 import admin_service_pb2 as apb, admin_service_pb2_grpc as apb_grpc


@dataclass(frozen=True, slots=True)
class VirtualKey:
    """A virtual key without its secret (see AdminService in the contract); times are unix
    seconds, 0 meaning never / not; budgets and limits 0 meaning none."""

    name: str
    owner: str = ""
    models: tuple[str, ...] = ()
    requests_per_minute: int = 0
    tokens_per_minute: int = 0
    concurrent_streams: int = 0
    tokens_per_day: int = 0
    tokens_per_month: int = 0
    usd_per_day: float = 0.0
    usd_per_month: float = 0.0
    expires: float = 0.0
    revoked: float = 0.0
    created: float = 0.0
    previous_valid_until: float = 0.0


@dataclass(frozen=True, slots=True)
class KeyWithSecret:
    """A key just created or rotated, with its secret (never shown again)."""

    key: VirtualKey
    secret: str


_NUMBERS = (
    "requests_per_minute",
    "tokens_per_minute",
    "concurrent_streams",
    "tokens_per_day",
    "tokens_per_month",
    "usd_per_day",
    "usd_per_month",
)


def key_to_pb(key: VirtualKey) -> apb.VirtualKey:
    message = new(apb.VirtualKey, name=key.name, owner=key.owner, models=list(key.models))
    for name in _NUMBERS:
        assign(message, name, getattr(key, name), name)
    if key.expires:
        message.expire_time.FromNanoseconds(int(key.expires * 1e9))
    return message


def _seconds(message: apb.VirtualKey, name: str) -> float:
    stamp = getattr(message, name)
    return float(stamp.ToNanoseconds() / 1e9) if stamp.ByteSize() else 0.0


def key_from_pb(message: apb.VirtualKey) -> VirtualKey:
    return VirtualKey(
        name=message.name,
        owner=message.owner,
        models=tuple(message.models),
        requests_per_minute=message.requests_per_minute,
        tokens_per_minute=message.tokens_per_minute,
        concurrent_streams=message.concurrent_streams,
        tokens_per_day=message.tokens_per_day,
        tokens_per_month=message.tokens_per_month,
        usd_per_day=message.usd_per_day,
        usd_per_month=message.usd_per_month,
        expires=_seconds(message, "expire_time"),
        revoked=_seconds(message, "revoke_time"),
        created=_seconds(message, "create_time"),
        previous_valid_until=_seconds(message, "previous_valid_until"),
    )


class AsyncAdminClient:
    """AdminService over an AsyncClient's channel (see the module docstring)."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client
        self._stub = apb_grpc.AdminServiceStub(client._channel)

    async def create_key(
        self, key: VirtualKey, *, api_key: str | None = None, timeout: float | None = None
    ) -> KeyWithSecret:
        """Create a key; ConflictError if the name is taken."""
        request = apb.CreateKeyRequest(key=key_to_pb(key))
        response = await self._call(self._stub.CreateKey, request, api_key, timeout)
        return KeyWithSecret(key_from_pb(response.key), response.secret)

    async def list_keys(
        self, *, api_key: str | None = None, timeout: float | None = None
    ) -> list[VirtualKey]:
        """Every key, without secrets."""
        response = await self._call(self._stub.ListKeys, apb.ListKeysRequest(), api_key, timeout)
        return [key_from_pb(k) for k in response.keys]

    async def rotate_key(
        self,
        name: str,
        *,
        grace_seconds: int = 0,
        api_key: str | None = None,
        timeout: float | None = None,
    ) -> KeyWithSecret:
        """A new secret; the old one works for `grace_seconds` more."""
        request = new(apb.RotateKeyRequest, name=name, grace_seconds=grace_seconds)
        response = await self._call(self._stub.RotateKey, request, api_key, timeout)
        return KeyWithSecret(key_from_pb(response.key), response.secret)

    async def revoke_key(
        self, name: str, *, api_key: str | None = None, timeout: float | None = None
    ) -> VirtualKey:
        """Revoke a key on every replica (idempotent)."""
        request = new(apb.RevokeKeyRequest, name=name)
        response = await self._call(self._stub.RevokeKey, request, api_key, timeout)
        return key_from_pb(response.key)

    async def get_spend(
        self, name: str, *, days: int = 0, api_key: str | None = None, timeout: float | None = None
    ) -> SpendReport:
        """The key's spend per day and model, and its totals today and this month."""
        request = new(apb.GetSpendRequest, name=name, days=days)
        return spend_from_pb(await self._call(self._stub.GetSpend, request, api_key, timeout))

    async def _call(
        self,
        method: Callable[..., Awaitable[Any]],
        request: object,
        api_key: str | None,
        timeout: float | None,
    ) -> Any:
        metadata = self._client._metadata("Admin", api_key, None)
        try:
            return await method(
                request, timeout=timeout or self._client._timeout, metadata=metadata
            )
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from None
