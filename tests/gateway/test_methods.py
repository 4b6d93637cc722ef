"""A method the path does not serve is a 405 whose `Allow` lists every method of the path,
read from the app's own routes (not one route's). Real gateway on 127.0.0.1."""

from __future__ import annotations

import httpx
import pytest

from gateway.app import create_app
from gateway.settings import Settings


def methods_by_path() -> dict[str, set[str]]:
    """Every documented path with all the methods its routes serve, from the app's OpenAPI."""
    app = create_app(Settings(core_target="127.0.0.1:1", auth="disabled"))
    return {path: {m.upper() for m in ops} for path, ops in app.openapi()["paths"].items()}


def concrete(path: str) -> str:
    for name, value in (("{thread_id}", "t1"), ("{response_id}", "r1"), ("{space_id}", "s1")):
        path = path.replace(name, value)
    return path


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1/responses/resp_1", {"GET", "DELETE"}),
        ("/v1/threads/t1", {"GET", "DELETE"}),
        ("/v1/spaces", {"GET", "POST"}),
        ("/v1/chat/completions", {"POST"}),
    ],
)
def test_405_allow_lists_every_method_of_the_path(gateway, path: str, expected: set[str]) -> None:
    response = httpx.put(gateway.url + path, json={}, timeout=10)
    assert response.status_code == 405
    allowed = {m.strip() for m in response.headers["allow"].split(",")}
    assert expected <= allowed
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_every_path_answers_405_with_all_its_methods(gateway) -> None:
    for path, methods in methods_by_path().items():
        if "{model}" in path or "PATCH" in methods:
            continue
        response = httpx.patch(gateway.url + concrete(path), json={}, timeout=10)
        assert response.status_code == 405, path
        assert methods <= set(response.headers["allow"].split(", ")), path
