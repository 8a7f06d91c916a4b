"""GET /admin: the operator's dashboard, one static page (`app/admin_page/`: HTML, CSS and a small script;
no build step, nothing fetched from elsewhere) on top of the JSON admin routes.

The page itself is no secret and needs no key: it asks for an admin key and sends it only as the
`Authorization` header of its calls to `admin/...`, relative to itself, so it works behind a path prefix
(the REST API's stage). Its headers allow nothing but its own script and style (no inline code, no other
origin, no framing, no referrer). The only thing the server fills in is whether ADMIN_API_KEYS is set, so
that without it the page says how to set one instead of asking for a key nobody can have.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from qwen_server.app.runtime import settings_of
from qwen_server.core.errors import Misconfigured

FILES = Path(__file__).resolve().parents[1] / "admin_page"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}
KEYS_MARK = b'data-keys="set"'


@cache
def _file(name: str) -> bytes:
    return (FILES / name).read_bytes()


def _admin_keys_set(request: Request) -> bool:
    from qwen_server.config import ConfigError

    try:
        return bool(settings_of(request).admin_keys())
    except ConfigError as exc:
        raise Misconfigured(f"The gateway is misconfigured: {exc}") from None


async def page(request: Request) -> Response:
    body = _file("admin.html")
    if not _admin_keys_set(request):
        body = body.replace(KEYS_MARK, b'data-keys="missing"')
    return Response(body, media_type="text/html; charset=utf-8", headers=HEADERS)


async def stylesheet(request: Request) -> Response:
    return Response(_file("admin.css"), media_type="text/css; charset=utf-8", headers=HEADERS)


async def script(request: Request) -> Response:
    return Response(_file("admin.js"), media_type="text/javascript; charset=utf-8", headers=HEADERS)
