"""GET /openapi.json and /docs: an OpenAPI 3.1 document naming every route's request body with
the same pydantic models that validate it, served behind the API key."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate

from gateway.openapi import BODIES


@pytest.fixture
def document(gateway) -> dict:
    response = httpx.get(gateway.url + "/openapi.json", timeout=30)
    assert response.status_code == 200
    return response.json()


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1")
    validate(document)


# Actions that take no body, as OpenAI's own (POST /responses/{id}/cancel has none there).
BODYLESS = {("post", "/v1/responses/{response_id}/cancel")}


def test_every_route_that_takes_a_body_names_its_schema(document):
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method in ("post", "put", "patch") and (method, path) not in BODYLESS:
                body = operation.get("requestBody")
                assert body is not None, (method, path)
                ref = body["content"]["application/json"]["schema"]["$ref"]
                name = ref.rsplit("/", 1)[-1]
                assert name == BODIES[(method, path)].__name__
                assert name in document["components"]["schemas"]


def test_the_chat_schema_is_the_validating_models(document):
    schema = document["components"]["schemas"]["ChatCompletionRequest"]
    assert {"messages", "max_completion_tokens", "thread_id"} <= set(schema["properties"])
    assert schema["required"] == ["messages"]


def test_docs_is_a_swagger_page_over_the_document(gateway):
    page = httpx.get(gateway.url + "/docs", timeout=30)
    assert page.status_code == 200 and "/openapi.json" in page.text and "swagger" in page.text


def test_the_document_needs_the_key_when_keys_are_configured(dbgpt):
    assert httpx.get(dbgpt.url + "/openapi.json", timeout=30).status_code == 401
    keyed = httpx.get(
        dbgpt.url + "/openapi.json", headers={"Authorization": "Bearer dbgpt"}, timeout=30
    )
    assert keyed.status_code == 200


# What an answer must never do. Not among them: "a schema-valid body is accepted" (the
# document gives each body's shape; ranges and limits are the core's, a 400 naming the field)
# and "an invalid body is refused" (pydantic's lax cases, such as extra fields that become
# provider parameters, are the core's to refuse too).
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
]


# A bounded property run over the document: every operation gets generated requests (valid
# and not), and no answer may be a 5xx or contradict the document (status, content type,
# body schema). 25 examples per operation: a few hundred requests in all. (Driven through
# hypothesis directly: schemathesis' pytest plugin does not run under this pytest.)
def test_generated_requests_get_no_5xx_and_no_answer_the_document_contradicts(gateway):
    schema = schemathesis.openapi.from_url(gateway.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= len(BODIES)
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def run(case) -> None:
            case.call_and_validate(checks=CHECKS, timeout=30)

        run()
