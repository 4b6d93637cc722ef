"""A virtual key as stored (never its secret), its budget, a spend row, and the KeyStore.

A key's secret is shown once, when it is created or rotated; the store keeps its SHA-256
(core.auth.digest). During a rotation's grace period the previous digest stays valid until
`previous_until`. A revoked or expired key is refused.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Protocol

from core.auth import UNLIMITED, KeyLimits
from core.errors import InvalidArgumentError

SECRET_PREFIX = "sk-cr-"
NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def new_secret() -> str:
    """A fresh key: 256 random bits, URL-safe."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class Budget:
    """Limits on a key's spend per UTC day and calendar month; 0: none. Money in US dollars,
    priced from the catalog's per-model prices."""

    tokens_per_day: int = 0
    tokens_per_month: int = 0
    usd_per_day: float = 0.0
    usd_per_month: float = 0.0


NO_BUDGET = Budget()


@dataclass(frozen=True, slots=True)
class VirtualKey:
    """A key as the database holds it: `owner` is the identity its calls act as; `models`
    empty means every model; times are unix seconds, 0 meaning never / not."""

    name: str
    owner: str
    digest: str
    previous_digest: str = ""
    previous_until: float = 0.0
    models: tuple[str, ...] = ()
    limits: KeyLimits = UNLIMITED
    budget: Budget = NO_BUDGET
    expires: float = 0.0
    revoked: float = 0.0
    created: float = 0.0
    updated: float = 0.0

    def valid(self, presented_digest: str, now: float) -> bool:
        """Whether a key with this digest may call now."""
        if self.revoked or (self.expires and now >= self.expires):
            return False
        if presented_digest == self.digest:
            return True
        return presented_digest == self.previous_digest and now < self.previous_until


@dataclass(frozen=True, slots=True)
class SpendRow:
    """A key's usage of one model on one UTC day (`day` is YYYY-MM-DD)."""

    day: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


class KeyStore(Protocol):
    """Where virtual keys and spend live (the thread store's database)."""

    async def create_key(self, key: VirtualKey) -> None:
        """Store a new key; a name in use → ConflictError."""
        ...

    async def list_keys(self) -> tuple[VirtualKey, ...]:
        """Every key, revoked ones included, by name."""
        ...

    async def rotate_key(
        self, name: str, digest: str, grace_until: float, now: float
    ) -> VirtualKey:
        """Give the key a new digest; the old one stays valid until `grace_until`."""
        ...

    async def revoke_key(self, name: str, now: float) -> VirtualKey:
        """Revoke the key (idempotent); unknown → NotFoundError."""
        ...

    async def record_spend(
        self, key: str, owner: str, model: str, day: str, usage: tuple[int, int], micros: int
    ) -> None:
        """Add one turn's (prompt, completion) tokens and cost to the key's day and model."""
        ...

    async def spend(self, key: str, since_day: str) -> tuple[SpendRow, ...]:
        """The key's spend rows from `since_day` on, by day then model."""
        ...


def check_name(name: str, field: str = "name") -> str:
    if not NAME.fullmatch(name):
        raise InvalidArgumentError(
            f"{field} must be 1-64 characters from [A-Za-z0-9_.:-]", field=field
        )
    return name
