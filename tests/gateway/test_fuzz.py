"""Hypothesis-generated JSON bodies against every POST route of a real gateway (and core):
whatever the body, the answer is a success or an error in OpenAI's envelope, never a 5xx.

The gateway serves no OpenAPI document yet (its routes read their bodies themselves, so
FastAPI's generated one has none), so instead of schemathesis the bodies are drawn per route
from the route's request model: its own field names (from the model's JSON schema) mapped to
arbitrary JSON, mixed into a body the route serves. Bounded: 60 examples a route."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.gateway.test_contract_values import ROUTES, json_types

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    # The edges of the contract's integer types, where a value the gateway accepts may be one
    # the contract cannot carry.
    st.sampled_from([2**31 - 1, 2**31, 2**32, 2**63, 2**64, -(2**31) - 1, -(2**63) - 1]),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["", "scripted", "user", "message", "function_call", "text", "auto"]),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


EDGES = st.sampled_from([2**31 - 1, 2**31, 2**32, 2**63, 2**64, -(2**31) - 1, -(2**63) - 1])
BY_TYPE: dict[str, st.SearchStrategy[Any]] = {
    "integer": st.one_of(EDGES, st.integers()),
    "number": st.floats(allow_nan=False),
    "string": st.text(max_size=20),
    "boolean": st.booleans(),
}


def value_for(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Mostly values of the property's own JSON types (edges included), else any JSON."""
    kinds = sorted(json_types(schema) & set(BY_TYPE))
    own = [BY_TYPE[kind] for kind in kinds]
    return st.one_of(*own, JSON) if own else JSON


def bodies(route: tuple[str, Any, dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    _, model, base = route
    properties = model.model_json_schema()["properties"]
    names = st.lists(st.sampled_from(sorted(properties)), min_size=1, max_size=2, unique=True)
    changes = names.flatmap(
        lambda chosen: st.fixed_dictionaries({n: value_for(properties[n]) for n in chosen})
    )
    return changes.map(lambda changed: {**base, **changed})


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r[0])
def test_generated_bodies_never_get_a_5xx(gateway, route) -> None:
    path = route[0]

    @settings(
        max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(body=bodies(route))
    def check(body: dict[str, Any]) -> None:
        text = json.dumps(body, ensure_ascii=True)
        response = httpx.post(
            gateway.url + path,
            content=text,
            headers={"content-type": "application/json", "accept": "application/json"},
            timeout=30,
        )
        assert response.status_code < 500, (path, body, response.text[:300])
        if response.status_code >= 400:
            error = response.json()["error"]
            assert {"message", "type", "param", "code"} <= set(error)

    check()
