"""GET /playground and its files: no key needed, a CSP that allows this origin's scripts
only, the right types, nothing else under /playground."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from gateway.playground.page import CONTENT_SECURITY_POLICY
from tests.fakes import ScriptedBackend
from tests.gateway.playground.stack import playground_stack

FILES = {
    "/playground": "text/html",
    "/playground/app.js": "text/javascript",
    "/playground/style.css": "text/css",
    "/playground/favicon.svg": "image/svg+xml",
}


@pytest.fixture(scope="module")
def gateway_url(tmp_path_factory) -> Iterator[str]:
    database = tmp_path_factory.mktemp("playground") / "threads.db"
    with playground_stack(ScriptedBackend(), database, keys=True) as (_, gateway):
        yield gateway.url


@pytest.mark.parametrize(("path", "media_type"), FILES.items())
def test_files_are_served_without_a_key_with_the_security_headers(gateway_url, path, media_type):
    response = httpx.get(gateway_url + path, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media_type)
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_the_policy_allows_no_inline_or_foreign_script():
    directives = dict(d.strip().split(" ", 1) for d in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["default-src"] == "'none'"
    assert directives["connect-src"] == "'self'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY


def test_the_page_has_no_inline_script_or_style_and_no_foreign_url(gateway_url):
    page = httpx.get(gateway_url + "/playground", timeout=10).text
    assert page.count("<script") == 1 and '<script src="/playground/app.js"' in page
    assert " style=" not in page and "<style" not in page and " on" + "click=" not in page
    assert "http://" not in page and "https://" not in page and "//cdn" not in page


def test_the_script_never_writes_html():
    from gateway.playground.page import CONTENT

    script = CONTENT["app.js"].decode()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script, sink
    assert "localStorage.setItem(KEY_STORAGE" not in script  # the key: sessionStorage only


@pytest.mark.parametrize("path", ["/playground/", "/playground/page.py", "/playground/../app.py"])
def test_nothing_else_is_served(gateway_url, path):
    assert httpx.get(gateway_url + path, timeout=10).status_code == 404


def test_the_api_still_needs_the_key(gateway_url):
    assert httpx.get(gateway_url + "/v1/models", timeout=10).status_code == 401
