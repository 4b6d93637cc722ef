"""GET /playground and its two static files, unauthenticated like /health (the page holds no
data: its own requests to /v1 carry the key the user gives it).

Model output shown by the page is untrusted, so the page is served with a Content-Security-
Policy that allows scripts, styles and requests from this origin only: no inline script, no
eval, nothing fetched from elsewhere, no framing. The files are read once, at import; there is
no path parameter, so no path can reach anything but these four files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fastapi import APIRouter
from starlette.responses import Response

router = APIRouter(include_in_schema=False)  # a page for people, not part of the API

HERE = Path(__file__).resolve().parent
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS: Final = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}
FILES: Final = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
CONTENT: Final = {name: (HERE / name).read_bytes() for name in FILES}


def _file(name: str) -> Response:
    return Response(CONTENT[name], media_type=FILES[name], headers=HEADERS)


@router.get("/playground")
async def playground() -> Response:
    """The playground page."""
    return _file("index.html")


@router.get("/playground/app.js")
async def playground_script() -> Response:
    """The page's script (the only one it runs)."""
    return _file("app.js")


@router.get("/playground/style.css")
async def playground_style() -> Response:
    """The page's style sheet."""
    return _file("style.css")


@router.get("/playground/favicon.svg")
async def playground_icon() -> Response:
    """The page's icon (so the browser does not ask for /favicon.ico)."""
    return _file("favicon.svg")
