"""The request observer labels every route by its template, whatever router it came from."""

from __future__ import annotations

import re

from gateway.app import create_app
from gateway.http.observability import UNMATCHED, flat_routes, route_of
from gateway.http.service import ENDPOINTS


def _scope(method: str, path: str) -> dict[str, object]:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}


def test_every_listed_endpoint_is_labelled_by_its_route_template():
    routes = flat_routes(create_app().router.routes)
    for endpoint in ENDPOINTS:
        method, template = endpoint.split(" ")
        path = re.sub(r"\{[a-z_]+\}", "some-id", template)
        assert route_of(routes, _scope(method, path)).replace(":path", "") == template, endpoint


def test_unknown_paths_are_one_label_and_a_wrong_method_keeps_its_route():
    routes = flat_routes(create_app().router.routes)
    assert route_of(routes, _scope("GET", "/v1/secret-user-input")) == UNMATCHED
    assert route_of(routes, _scope("GET", "/v1/chat/completions")) == "/v1/chat/completions"
