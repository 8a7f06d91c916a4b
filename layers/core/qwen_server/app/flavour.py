"""Routes both APIs share (`/v1/files`): which API a request speaks, and errors in that API's shape.

Anthropic's SDKs always send `anthropic-version` (and `anthropic-beta` for the Files API); OpenAI's never do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from qwen_server.app.http import error_response
from qwen_server.core.errors import GatewayError

Handler = Callable[[Request], Awaitable[Response]]


def speaks_anthropic(request: Request) -> bool:
    headers = request.headers
    return "anthropic-version" in headers or "anthropic-beta" in headers


def in_callers_shape(handler: Handler) -> Handler:
    """Render the handler's errors as the calling API's error body (the path alone cannot tell)."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except GatewayError as exc:
            return error_response(
                exc,
                request.url.path,
                anthropic=speaks_anthropic(request),
                request_id=request.scope.get("state", {}).get("request_id"),
            )

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped
