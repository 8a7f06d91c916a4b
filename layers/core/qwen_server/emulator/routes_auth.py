"""Sign-in (v2: token in Set-Cookie; v1: also in the body), the token check, and the model list."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from qwen_server.emulator import protocol
from qwen_server.emulator.catalog import MODELS_BODY
from qwen_server.emulator.responses import json_response
from qwen_server.emulator.state import EmulatorState
from qwen_server.emulator.tokens import TOKEN_TTL

Endpoint = Callable[[Request], Awaitable[Response]]


def _cookie(token: str) -> str:
    return f"token={token}; Path=/; Max-Age={TOKEN_TTL}; HttpOnly; SameSite=Lax"


def _signin(state: EmulatorState, legacy: bool) -> Endpoint:
    async def signin(request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
            email, password = str(body["email"]), str(body["password"])
        except (ValueError, KeyError, TypeError):
            return json_response(400, {"detail": "Invalid request: 'email' and 'password' are required"})
        account = state.accounts.by_email(email)
        client = request.client.host if request.client else "unknown"
        if state.wall is not None and not state.wall.admit(client):
            state.stats.error("signin_wall", account.index if account else None)
            return Response(protocol.WAF_HTML, status_code=200, media_type="text/html")
        if account is None or password.lower() != account.password_sha256:
            state.stats.error("signin_failed", account.index if account else None)
            return json_response(400, {"detail": protocol.BAD_CREDENTIALS})
        token, expires_at = state.tokens.mint(account)
        state.stats.signin(account.index)
        record = account.record()
        if legacy:
            record.update(token=token, token_type="Bearer", expires_at=expires_at)
        return json_response(200, record, headers={"set-cookie": _cookie(token)})

    return signin


def _whoami(state: EmulatorState) -> Endpoint:
    async def whoami(request: Request) -> Response:
        account = state.authenticate(request)
        if account is None:
            return json_response(401, {"detail": protocol.NOT_AUTHENTICATED})
        return json_response(200, {**account.record(), "token_type": "Bearer"})

    return whoami


async def _whoami_unslashed(request: Request) -> Response:
    """`GET /api/v1/auths` without the trailing slash: the real web app answers 401 even to a valid token
    (no redirect to the slashed path), so a client that drops the slash reads its token as refused."""
    return json_response(401, {"detail": protocol.NOT_AUTHENTICATED})


def _models(state: EmulatorState) -> Endpoint:
    async def models(request: Request) -> Response:
        if state.authenticate(request) is None:
            return json_response(401, {"detail": protocol.NOT_AUTHENTICATED})
        return Response(MODELS_BODY, media_type="application/json")

    return models


def routes(state: EmulatorState) -> list[Route]:
    return [
        Route("/api/v2/auths/signin", _signin(state, legacy=False), methods=["POST"]),
        Route("/api/v1/auths/signin", _signin(state, legacy=True), methods=["POST"]),
        Route("/api/v1/auths/", _whoami(state), methods=["GET"]),
        Route("/api/v1/auths", _whoami_unslashed, methods=["GET"]),
        Route("/api/models", _models(state), methods=["GET"]),
    ]
