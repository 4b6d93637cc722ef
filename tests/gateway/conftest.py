"""Gateway fixtures: real uvicorn in front of a real core; the official openai SDK as client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from core.auth import KeyRing, digest
from core.catalog import ModelCatalog, ModelSpec
from gateway.app import create_app
from gateway.settings import Settings
from tests.servers import CoreThread, GatewayThread, with_models
from tests.upstream import UPSTREAM_KEY, UPSTREAM_MODEL, FakeUpstream

OPENAPI = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"  # see SOURCE.md there
DBGPT_MODELS = ("chatgpt_proxyllm", "proxyllm")  # the model names DB-GPT's seed examples use


@pytest.fixture
def catalog(catalog: ModelCatalog, scripted) -> ModelCatalog:
    """The shared catalog plus "qwen-flash" (the seed's model name) on the scripted backend."""
    spec = ModelSpec(name="qwen-flash", backend="scripted", context_window=4096)
    return with_models(catalog, (spec, scripted))


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    """A strict fake OpenAI upstream serving UPSTREAM_MODEL to UPSTREAM_KEY (modules add it to
    their catalog with tests.upstream.with_upstream)."""
    server = FakeUpstream(keys={UPSTREAM_KEY}, models={UPSTREAM_MODEL: 32768})
    yield server
    server.stop()


@pytest.fixture
def gateway(core_server: CoreThread) -> Iterator[GatewayThread]:
    server = GatewayThread(create_app(Settings(core_target=core_server.target, auth="disabled")))
    yield server
    server.stop()


@pytest.fixture
def dbgpt(catalog: ModelCatalog, scripted, sqlite_url: str) -> Iterator[GatewayThread]:
    """Core and gateway that accept DB-GPT's seed key, "dbgpt", and serve the seed's model
    names on the scripted backend."""
    seed_models = ((ModelSpec(name, "scripted", 4096), scripted) for name in DBGPT_MODELS)
    keys = KeyRing({"dbgpt-user": digest("dbgpt")})
    core = CoreThread(with_models(catalog, *seed_models), database_url=sqlite_url, keys=keys)
    gateway = GatewayThread(create_app(Settings(core_target=core.target)))
    yield gateway
    gateway.stop()
    core.stop()


@pytest.fixture
def openai_client(gateway: GatewayThread) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0) as client:
        yield client


@pytest.fixture
async def async_openai_client(gateway: GatewayThread):
    async with openai.AsyncOpenAI(
        base_url=gateway.url + "/v1", api_key="unused", max_retries=0
    ) as client:
        yield client


class OpenAPISchemas:
    """Validates JSON against a component schema of OpenAI's official OpenAPI document."""

    def __init__(self) -> None:
        document = _nullable_to_json_schema(json.loads(OPENAPI.read_text()))
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self._registry = Registry().with_resource("openapi.json", resource)

    def validate(self, instance: object, component: str) -> None:
        schema = {"$ref": f"openapi.json#/components/schemas/{component}"}
        Draft202012Validator(schema, registry=self._registry).validate(instance)


def _nullable_to_json_schema(node: object) -> object:
    """OpenAI's 3.1 document still says `nullable: true` (OpenAPI 3.0); spell it in JSON Schema."""
    if isinstance(node, list):
        return [_nullable_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _nullable_to_json_schema(value) for key, value in node.items()}
    if node.pop("nullable", False) is True:
        return {"anyOf": [node, {"type": "null"}]}
    return node


@pytest.fixture(scope="session")
def openapi() -> OpenAPISchemas:
    return OpenAPISchemas()
