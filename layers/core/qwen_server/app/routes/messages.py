"""POST /v1/messages and /v1/messages/count_tokens (Anthropic)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from qwen_server.core.errors import GatewayError


async def create_message(request: Request) -> Response:
    raise GatewayError("not implemented yet", status=501)


async def count_tokens(request: Request) -> Response:
    raise GatewayError("not implemented yet", status=501)
