"""The web provider's credential check and model listing, over MockTransport."""

from __future__ import annotations

import httpx
import pytest

from qwen_server.core import errors
from qwen_server.providers.base import Account
from qwen_server.providers.http import ClientRegistry
from qwen_server.providers.qwen_web import wire
from qwen_server.providers.qwen_web.auth import TokenManager
from qwen_server.providers.qwen_web.provider import QwenWebProvider
from qwen_server.store.memory import MemoryStore

TOKEN_ONLY = Account(id="t", kind="qwen-web", base_url="https://chat.example", name="t", token="tok")
WITH_PASSWORD = Account(
    id="p", kind="qwen-web", base_url="https://chat.example", name="p", email="me@x", password="pw"
)


def web(answer: object) -> QwenWebProvider:
    clients = ClientRegistry(transport=httpx.MockTransport(answer))  # type: ignore[arg-type]
    return QwenWebProvider(clients, TokenManager(MemoryStore()))


async def test_a_valid_token_passes_the_auth_endpoint() -> None:
    paths: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return httpx.Response(200, json={"id": "u1", "email": "x", "role": "user"})

    await web(answer).verify(TOKEN_ONLY)
    assert paths == [wire.WHOAMI_PATH]


async def test_a_token_refused_twice_is_an_auth_error() -> None:
    calls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(401, json={"detail": "Not authenticated"})

    with pytest.raises(errors.UpstreamAuthError, match="auth endpoint refused"):
        await web(answer).verify(TOKEN_ONLY)
    assert calls == [wire.WHOAMI_PATH, wire.WHOAMI_PATH], "one retry after forgetting the token"


async def test_a_stale_token_renewed_by_sign_in_passes() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == wire.SIGNIN_PATH:
            return httpx.Response(200, json={"id": "u"}, headers={"set-cookie": "token=fresh; Path=/"})
        if "token=fresh" in request.headers.get("cookie", ""):
            return httpx.Response(200, json={"id": "u"})
        return httpx.Response(401, json={"detail": "Not authenticated"})

    provider = web(answer)
    await provider.verify(WITH_PASSWORD)


async def test_a_refused_sign_in_is_an_auth_error() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"detail": "The email or password provided is incorrect."})

    with pytest.raises(errors.UpstreamAuthError):
        await web(answer).verify(WITH_PASSWORD)


async def test_a_waf_page_is_inconclusive() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            403, text="<!DOCTYPE html><html>aliyun_waf</html>", headers={"content-type": "text/html"}
        )

    with pytest.raises(errors.UpstreamBlocked):
        await web(answer).verify(TOKEN_ONLY)


@pytest.mark.parametrize("body", [{"data": "nope"}, {"models": []}, [1, 2]])
async def test_a_malformed_listing_is_an_upstream_error(body: object) -> None:
    with pytest.raises(errors.UpstreamError):
        await web(lambda r: httpx.Response(200, json=body)).list_models(TOKEN_ONLY)


async def test_a_listing_tolerates_odd_entries() -> None:
    body = {"data": [{"id": "qwen3-max", "info": None, "created": "soon"}, "junk", {"name": "no id"}]}
    models = await web(lambda r: httpx.Response(200, json=body)).list_models(TOKEN_ONLY)
    assert [(m.id, m.created, m.capabilities) for m in models] == [("qwen3-max", 0, ())]
