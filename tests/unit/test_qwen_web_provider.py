"""The qwen-web provider against a scripted transport: answers that are JSON where a stream was due."""

from __future__ import annotations

import httpx
import pytest

from qwen_server.core.errors import UpstreamError
from qwen_server.core.model import ChatRequest, Event, Finish, Message, TextPart
from qwen_server.providers.base import Account
from qwen_server.providers.http import ClientRegistry
from qwen_server.providers.qwen_web.auth import TokenManager
from qwen_server.providers.qwen_web.provider import QwenWebProvider
from qwen_server.store.memory import MemoryStore

ACCOUNT = Account(id="a1", kind="qwen-web", base_url="http://qwen.test", name="a", token="tok-1")


def _provider(completion: dict[str, object]) -> QwenWebProvider:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v2/chats/new":
            return httpx.Response(200, json={"success": True, "data": {"id": "chat-1"}})
        return httpx.Response(200, json=completion)

    clients = ClientRegistry(transport=httpx.MockTransport(handle))
    return QwenWebProvider(clients, TokenManager(MemoryStore()), delete_chats=False)


async def _events(provider: QwenWebProvider) -> list[Event]:
    request = ChatRequest(model="qwen3-max", messages=[Message("user", [TextPart("hi")])])
    return [event async for event in provider.stream(request, ACCOUNT)]


async def test_a_moderation_refusal_instead_of_a_stream_is_a_content_filter_finish() -> None:
    refusal = {
        "success": False,
        "data": {"code": "DataInspectionFailed", "details": "Input data may contain ..."},
    }
    assert await _events(_provider(refusal)) == [Finish("content_filter")]


async def test_any_other_json_instead_of_a_stream_is_an_upstream_error() -> None:
    with pytest.raises(UpstreamError, match="Bad_Request"):
        await _events(_provider({"success": False, "data": {"code": "Bad_Request", "details": "nope"}}))
    with pytest.raises(UpstreamError, match="without a stream"):
        await _events(_provider({"success": True}))
