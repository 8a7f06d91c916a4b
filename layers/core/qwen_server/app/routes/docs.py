"""GET /openapi.json (the contract of every route, see `app.contract`) and GET /docs (when API_DOCS is on)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from qwen_server import __version__
from qwen_server.app.http import JSONBytes
from qwen_server.app.runtime import settings_of
from qwen_server.core.errors import NotFound

_document: dict[str, object] | None = None


def _routes() -> list[tuple[str, str]]:
    """Every route of every group: behind one base URL the API is one API, whichever function serves it."""
    from qwen_server.app.factory import ALWAYS, ROUTES

    seen: dict[tuple[str, str], None] = {}
    for method, path, _ in [*ALWAYS, *(r for group in ROUTES.values() for r in group)]:
        seen[(method, path)] = None
    return list(seen)


async def openapi(request: Request) -> Response:
    global _document
    if _document is None:
        from qwen_server.app.contract import openapi_document

        _document = openapi_document(_routes(), "Qwen API Server", __version__)
    return JSONBytes(_document)


async def docs_page(request: Request) -> Response:
    if not settings_of(request).api_docs:
        raise NotFound("The API docs page is off; set API_DOCS=true to serve it", code="unknown_url")
    from fastapi.openapi.docs import get_swagger_ui_html

    page: HTMLResponse = get_swagger_ui_html(openapi_url="/openapi.json", title="Qwen API Server")
    return page
