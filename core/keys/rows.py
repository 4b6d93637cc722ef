"""The SQL of virtual keys and spend (`?` placeholders: PostgreSQL runs them through
core.storage.placeholders.numbered), and their rows ↔ values."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any, Final

from core.auth import KeyLimits
from core.keys.base import Budget, SpendRow, VirtualKey

COLUMNS: Final = (
    "name, owner, digest, previous_digest, previous_until, models, limits, budget, expires,"
    " revoked, created, updated"
)
INSERT_KEY: Final = f"INSERT INTO api_keys ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
SELECT_KEYS: Final = f"SELECT {COLUMNS} FROM api_keys ORDER BY name"  # noqa: S608
SELECT_KEY: Final = f"SELECT {COLUMNS} FROM api_keys WHERE name = ?"  # noqa: S608
ROTATE_KEY: Final = (
    "UPDATE api_keys SET previous_digest = digest, previous_until = ?, digest = ?, updated = ?"
    " WHERE name = ? AND revoked = 0"
)
REVOKE_KEY: Final = "UPDATE api_keys SET revoked = ?, updated = ? WHERE name = ? AND revoked = 0"
ADD_SPEND: Final = (
    "INSERT INTO spend (key_name, owner, model, day, prompt_tokens, completion_tokens,"
    " cost_micros) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key_name, day, model) DO UPDATE SET"
    " prompt_tokens = spend.prompt_tokens + excluded.prompt_tokens,"
    " completion_tokens = spend.completion_tokens + excluded.completion_tokens,"
    " cost_micros = spend.cost_micros + excluded.cost_micros"
)
SELECT_SPEND: Final = (
    "SELECT day, model, prompt_tokens, completion_tokens, cost_micros FROM spend"
    " WHERE key_name = ? AND day >= ? ORDER BY day, model"
)


def key_to_params(key: VirtualKey) -> tuple[Any, ...]:
    return (
        key.name,
        key.owner,
        key.digest,
        key.previous_digest,
        key.previous_until,
        json.dumps(list(key.models)),
        json.dumps(asdict(key.limits)),
        json.dumps(asdict(key.budget)),
        key.expires,
        key.revoked,
        key.created,
        key.updated,
    )


def row_to_key(row: Sequence[Any]) -> VirtualKey:
    name, owner, digest, previous, until, models, limits, budget, expires, revoked = row[:10]
    return VirtualKey(
        name=name,
        owner=owner,
        digest=digest,
        previous_digest=previous,
        previous_until=until,
        models=tuple(json.loads(models)),
        limits=KeyLimits(**json.loads(limits)),
        budget=Budget(**json.loads(budget)),
        expires=expires,
        revoked=revoked,
        created=row[10],
        updated=row[11],
    )


def row_to_spend(row: Sequence[Any]) -> SpendRow:
    day, model, prompt, completion, micros = row
    return SpendRow(
        day=day,
        model=model,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost_usd=micros / 1e6,
    )
