"""API keys on both faces: every route and RPC refuses callers without a valid key, before any
model or storage work; threads are isolated per key, even under the same literal id."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import httpx
import pytest

import chatrpc
from core.auth import KeyRing, digest
from gateway.app import create_app
from gateway.settings import Settings
from tests.servers import CoreThread, GatewayThread

ALICE, BOB = "sk-alice-0123456789abcdef", "sk-bob-0123456789abcdef"
# The service routes and the playground's static page (gateway/playground/page.py: it holds
# no data; its own requests to /v1 carry the key its user gives it).
ALLOWLIST = {
    "/",
    "/health",
    "/ready",
    "/playground",
    "/playground/app.js",
    "/playground/style.css",
    "/playground/favicon.svg",
}


@pytest.fixture
def keyed(catalog, sqlite_url) -> Iterator[tuple[CoreThread, GatewayThread]]:
    keys = KeyRing({"alice": digest(ALICE), "bob": digest(BOB)})
    core = CoreThread(catalog, database_url=sqlite_url, keys=keys)
    # Every route is tried with a bad key: more routes than the default bad-key throttle (20 a
    # minute per address) allows; test_limits covers the throttle itself.
    settings = Settings(core_target=core.target, bad_keys_per_minute=100)
    gateway = GatewayThread(create_app(settings))
    yield core, gateway
    gateway.stop()
    core.stop()


def flat_routes(routes):
    """FastAPI 0.16x keeps included routers as wrappers; walk down to the real routes."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        yield from flat_routes(inner.routes) if inner is not None else [route]


def routes(gateway: GatewayThread) -> list[tuple[str, str]]:
    found = []
    for route in flat_routes(gateway.app.routes):
        for method in sorted(set(getattr(route, "methods", None) or ()) - {"HEAD"}):
            path = route.path.replace("{thread_id}", "t-1").replace("{model:path}", "scripted")
            path = path.replace("{space_id}", "s-1").replace("{response_id}", "resp_1")
            path = path.replace("{conversation_id}", "conv_1").replace("{item_id}", "msg_1")
            found.append((method, path))
    return found


VALID_BODIES = {  # well-formed, so that only the key can be what is wrong
    "/v1/chat/completions": {"messages": [{"role": "user", "content": "hi"}]},
    "/v1/completions": {"prompt": "hi"},
    "/api/v2/chat/completions": {"messages": "hi"},
    "/v1/spaces": {"id": "s-1"},
    "/v1/responses": {"input": "hi"},
    "/v1/embeddings": {"input": "hi"},
    "/v1/spaces/s-1/documents": {"source": "a.md", "text": "hello"},
    "/v1/threads/search": {},
    "/v1/threads/t-1": {"metadata": {}},
    "/v1/data/erase": {"scope": "user", "user": "u-1"},
    "/v1/conversations": {},
    "/v1/conversations/conv_1": {"metadata": {}},
    "/v1/conversations/conv_1/items": {"items": [{"role": "user", "content": "hi"}]},
    "/v1/responses/resp_1/cancel": {},
}

BAD_AUTH = {
    "none": {},
    "empty bearer": {"Authorization": "Bearer"},
    "basic": {"Authorization": "Basic YWxpY2U6c2VjcmV0"},
    "wrong key": {"Authorization": "Bearer sk-wrong-0123456789abcdef"},
    "key without scheme": {"Authorization": ALICE},
}


@pytest.mark.parametrize("auth", BAD_AUTH, ids=list(BAD_AUTH))
def test_every_route_but_the_allowlist_refuses_bad_keys(keyed, scripted, auth):
    _, gateway = keyed
    checked = 0
    for method, path in routes(gateway):
        body = VALID_BODIES.get(path) if method == "POST" else None
        response = httpx.request(method, gateway.url + path, json=body, headers=BAD_AUTH[auth])
        if path in ALLOWLIST:
            assert response.status_code != 401, path
            continue
        checked += 1
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["error"]["type"] == "authentication_error"
        assert response.headers["www-authenticate"] == "Bearer"
    assert checked >= 6
    assert scripted.calls == [] and scripted.token_counts == 0


@pytest.mark.parametrize(
    "path",
    [
        "//v1/chat/completions",
        "/v1/chat/completions/",
        "/v1/../v1/chat/completions",
        "/v1/%2e%2e/v1/models",
        "/V1/models",
    ],
)
def test_path_tricks_never_reach_the_core_unauthenticated(keyed, scripted, path):
    _, gateway = keyed
    body = {"messages": [{"role": "user", "content": "hi"}]}
    response = httpx.post(gateway.url + path, json=body)
    assert response.status_code in (401, 404, 405)
    host_trick = httpx.post(
        gateway.url + "/v1/chat/completions", json=body, headers={"Host": "evil/v1?x"}
    )
    assert host_trick.status_code in (400, 401)
    assert scripted.calls == []


def test_without_a_key_even_a_malformed_body_gets_401_first(keyed):
    _, gateway = keyed
    for path in VALID_BODIES:
        response = httpx.post(
            gateway.url + path, content=b"{not json", headers={"content-type": "application/json"}
        )
        assert response.status_code == 401, path


def test_valid_key_works_with_any_bearer_case(keyed, scripted):
    _, gateway = keyed
    for scheme in ("Bearer", "bearer"):
        scripted.enqueue(["hi"])
        response = httpx.post(
            gateway.url + "/v1/chat/completions",
            json={"model": "scripted", "messages": [{"role": "user", "content": "hello"}]},
            headers={"Authorization": f"{scheme} {ALICE}"},
        )
        assert response.status_code == 200, response.text


def test_threads_are_isolated_between_keys_over_http(keyed, scripted):
    _, gateway = keyed
    scripted.enqueue(["alice's secret reply"])
    alice, bob = {"Authorization": f"Bearer {ALICE}"}, {"Authorization": f"Bearer {BOB}"}
    body = {
        "model": "scripted",
        "thread_id": "shared-7",
        "messages": [{"role": "user", "content": "canary-A"}],
    }
    assert (
        httpx.post(gateway.url + "/v1/chat/completions", json=body, headers=alice).status_code
        == 200
    )
    # Bob cannot read, list or delete Alice's thread...
    assert httpx.get(gateway.url + "/v1/threads/shared-7", headers=bob).status_code == 404
    assert httpx.get(gateway.url + "/v1/threads", headers=bob).json()["data"] == []
    assert httpx.delete(gateway.url + "/v1/threads/shared-7", headers=bob).status_code == 404
    # ...and the same literal id is a separate thread of his own: no canary in his prompt.
    scripted.enqueue(["bob's reply"])
    bob_body = {**body, "messages": [{"role": "user", "content": "hello"}]}
    assert (
        httpx.post(gateway.url + "/v1/chat/completions", json=bob_body, headers=bob).status_code
        == 200
    )
    assert all("canary-A" not in m.content for m in scripted.calls[-1].prompt.messages)
    mine = httpx.get(gateway.url + "/v1/threads/shared-7", headers=alice).json()["messages"]
    assert [m["content"] for m in mine] == ["canary-A", "alice's secret reply"]


def test_identity_never_comes_from_the_body(keyed, scripted):
    _, gateway = keyed
    scripted.enqueue(["ok"])
    body = {
        "model": "scripted",
        "thread_id": "t-9",
        "user": "alice",
        "metadata": {"tenant": "alice"},
    }
    body["messages"] = [{"role": "user", "content": "x"}]
    httpx.post(
        gateway.url + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {BOB}"}
    )
    assert (
        httpx.get(
            gateway.url + "/v1/threads/t-9", headers={"Authorization": f"Bearer {ALICE}"}
        ).status_code
        == 404
    )


RPCS = ["chat", "chat_stream", "list_models", "get_thread", "list_threads", "delete_thread"]


def call(client: chatrpc.Client, rpc: str):
    if rpc == "chat":
        return client.chat("hi", model="scripted", thread_id="t-1")
    if rpc == "chat_stream":
        return list(client.chat_stream("hi", model="scripted"))
    if rpc in ("get_thread", "delete_thread"):
        return getattr(client, rpc)("t-1")
    return getattr(client, rpc)()


@pytest.mark.parametrize("rpc", RPCS)
@pytest.mark.parametrize("key", [None, "sk-wrong-0123456789abcdef"])
def test_every_rpc_refuses_bad_keys_before_any_work(keyed, scripted, rpc, key):
    core, _ = keyed
    with (
        chatrpc.Client(core.target, api_key=key) as client,
        pytest.raises(chatrpc.AuthenticationError),
    ):
        call(client, rpc)
    assert scripted.calls == [] and scripted.token_counts == 0


def test_malformed_grpc_authorization_metadata_is_unauthenticated(keyed):
    core, _ = keyed
    from chatrpc.v1 import chat_service_pb2 as pb, chat_service_pb2_grpc as pb_grpc

    with grpc.insecure_channel(core.target) as channel:
        stub = pb_grpc.ChatServiceStub(channel)
        for value in ("Basic abc", "Bearer", "x" * 8000):
            with pytest.raises(grpc.RpcError) as caught:
                stub.ListModels(pb.ListModelsRequest(), metadata=[("authorization", value)])
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_threads_are_isolated_between_keys_over_grpc(keyed, scripted):
    core, _ = keyed
    scripted.enqueue(["for alice"])
    with (
        chatrpc.Client(core.target, api_key=ALICE) as alice,
        chatrpc.Client(core.target, api_key=BOB) as bob,
    ):
        alice.chat("canary-G", model="scripted", thread_id="g-7")
        with pytest.raises(chatrpc.NotFoundError):
            bob.get_thread("g-7")
        with pytest.raises(chatrpc.NotFoundError):
            bob.delete_thread("g-7")
        assert bob.list_threads().threads == ()
        assert alice.health() == "SERVING"  # health needs no key
        assert [m.message.content for m in alice.get_thread("g-7").messages] == [
            "canary-G",
            "for alice",
        ]
