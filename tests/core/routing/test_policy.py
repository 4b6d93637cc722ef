"""The failure policy table, read from the errors the openai_compat backend really raises, and
the catalog's routing tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.backends.openai_compat import status_error
from core.catalog import ModelCatalog, load_specs
from core.errors import BackendTimeoutError, BackendUnavailableError, ConfigError
from core.routing.policy import Outcome, classify, retry_after


@pytest.mark.parametrize(
    ("status", "headers", "code", "outcome"),
    [
        (500, {}, None, Outcome.FAILURE),
        (502, {}, None, Outcome.FAILURE),
        (503, {"retry-after": "4"}, None, Outcome.FAILURE),
        (504, {}, None, Outcome.FAILURE),
        (408, {}, None, Outcome.FAILURE),
        (429, {"retry-after-ms": "1500"}, None, Outcome.RATE_LIMITED),
        (401, {}, "invalid_api_key", Outcome.MISCONFIGURED),
        (403, {}, None, Outcome.MISCONFIGURED),
        (404, {}, "model_not_found", Outcome.MISCONFIGURED),
        (400, {}, "context_length_exceeded", Outcome.CONTEXT),
        (400, {}, "content_filter", Outcome.REJECTED),
        (400, {}, None, Outcome.REJECTED),
        (422, {}, None, Outcome.REJECTED),
    ],
)
def test_upstream_statuses_map_to_one_policy_row(status, headers, code, outcome):
    error = status_error(status, headers, code, {"backend": "openai_compat"})
    assert classify(error) is outcome


def test_transport_failures_are_failures_and_retry_after_is_kept():
    assert classify(BackendUnavailableError("refused")) is Outcome.FAILURE
    assert classify(BackendTimeoutError("no first token")) is Outcome.FAILURE
    error = status_error(503, {"retry-after": "4"}, None, {})
    assert retry_after(error) == 4.0
    assert retry_after(status_error(429, {"retry-after-ms": "1500"}, None, {})) == 1.5


def catalog_of(tmp_path: Path, text: str) -> ModelCatalog:
    path = tmp_path / "models.toml"
    path.write_text(text)
    return ModelCatalog(load_specs(path))


ENTRY = """
[models."chat"]
backend = "openai_compat"
context_window = 32768
{extra}
[models."chat".options]
upstream_model = "m"
{tables}
[[models."chat".deployments]]
name = "one"
base_url = "http://127.0.0.1:9/v1"
weight = 2
max_in_flight = 4

[models."local"]
backend = "llama_cpp"
context_window = 4096
"""


def test_the_routing_tables_are_read(tmp_path):
    tables = '[models."chat".routing]\nstrategy = "latency"\nfirst_token_timeout = 2.5'
    catalog = catalog_of(tmp_path, ENTRY.format(extra="", tables=tables))
    route = catalog.get("chat").route
    assert route is not None
    assert route.routing.strategy == "latency" and route.routing.first_token_timeout == 2.5
    (deployment,) = route.deployments
    assert (deployment.name, deployment.weight, deployment.max_in_flight) == ("one", 2.0, 4)
    assert deployment.options == {"base_url": "http://127.0.0.1:9/v1"}


@pytest.mark.parametrize(
    ("extra", "tables", "complaint"),
    [
        ("", '[models."chat".routing]\nstrategy = "fastest"', "strategy"),
        ("", '[models."chat".routing]\nretries = 2', "unknown keys"),
        ("", '[models."chat".breaker]\nfailures = 0', "failures"),
        ('fallbacks = ["nope"]', "", "fallback"),
        ('fallbacks = ["chat"]', "", "fallback"),
        ('fallbacks = ["local"]', "", "openai_compat"),
    ],
)
def test_bad_routing_tables_are_refused_at_start(tmp_path, extra, tables, complaint):
    with pytest.raises(ConfigError, match=complaint):
        catalog_of(tmp_path, ENTRY.format(extra=extra, tables=tables))
