"""A bug of ours keeps the API contract: a 500 in the API's shape carrying the request id that the log line
names, and, after the first byte of an OpenAI stream, an error chunk and `[DONE]` instead of a cut stream.

No real upstream can be asked to make the gateway fail, so the gateway's stream is replaced in-process with
one that raises a non-gateway exception; everything around it (middleware, routes, SDK) is the real thing.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import openai
import pytest

from qwen_server.app.factory import build_app
from qwen_server.app.runtime import RuntimeCell, build_runtime
from qwen_server.config import Settings
from qwen_server.core.model import ChatRequest, Event, TextDelta


class Broken:
    def __init__(self, fail_after: int) -> None:
        self.fail_after = fail_after
        self.closed = False
        self.runtime: RuntimeCell | None = None  # the app's runtime, with this stream in its gateway

    async def stream(self, request: ChatRequest, cls: str = "chat") -> AsyncIterator[Event]:
        try:
            for i in range(self.fail_after):
                yield TextDelta(f"piece{i} ")
            raise KeyError("a bug")
        finally:
            self.closed = True


@pytest.fixture
def broken(monkeypatch: pytest.MonkeyPatch) -> Iterator[Broken]:
    runtime = build_runtime(Settings(qwen_accounts="[]", store_url="memory://"))
    gateway = Broken(fail_after=0)

    async def resolve(name: str, request: object = None) -> tuple[str, None]:
        return name, None

    monkeypatch.setattr(runtime.gateway, "stream", gateway.stream)
    monkeypatch.setattr(runtime.gateway, "resolve_model", resolve)
    gateway.runtime = RuntimeCell.holding(runtime)
    yield gateway


def client(broken: Broken) -> httpx.AsyncClient:
    app = build_app(["chat", "messages", "meta"], broken.runtime)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")


CHAT = {"model": "qwen3-max", "messages": [{"role": "user", "content": "hi"}]}


async def test_a_500_carries_the_request_id_of_its_log_line(
    broken: Broken, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="qwen_server")
    async with client(broken) as http:
        response = await http.post("/v1/chat/completions", json=CHAT)
        anthropic = await http.post("/v1/messages", json={**CHAT, "max_tokens": 5})
    assert response.status_code == 500
    request_id = response.headers["x-request-id"]
    assert response.json()["error"]["code"] == "internal_error"
    assert any(request_id in record.getMessage() for record in caplog.records)
    assert anthropic.status_code == 500
    assert (
        anthropic.json()["type"] == "error"
        and anthropic.json()["request_id"] == anthropic.headers["request-id"]
    )
    assert broken.closed


async def test_an_openai_stream_that_breaks_after_its_first_byte_ends_with_an_error_and_done(
    broken: Broken,
) -> None:
    broken.fail_after = 2
    async with client(broken) as http:
        response = await http.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert response.status_code == 200
    lines = [line for line in response.text.split("\n\n") if line]
    assert lines[-1] == "data: [DONE]"
    assert '"internal_error"' in lines[-2]
    sdk = openai.AsyncOpenAI(
        base_url="http://gateway/v1",
        api_key="k",
        http_client=httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(["chat"], broken.runtime))),
    )
    stream = await sdk.chat.completions.create(
        model="qwen3-max", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    with pytest.raises(openai.APIError, match="unexpected error"):
        async for _ in stream:
            pass
