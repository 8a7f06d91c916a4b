"""The /v1/messages route in-process, with a scripted gateway, through the official anthropic SDK.

The scripted gateway yields neutral events the real upstreams cannot yet be asked for (tool calls before
the parser is wired in, failures at chosen moments), so the route's wiring, pings and error paths are
tested without processes. Every raw stream goes through the grammar checker as well.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx
import httpx2
import pytest
from anthropic.types import ToolParam

from qwen_server.api.anthropic.count import MESSAGE_OVERHEAD, REPLY_OVERHEAD
from qwen_server.app.auth import KEYLESS_TENANT
from qwen_server.app.factory import build_app
from qwen_server.app.runtime import RuntimeCell, build_runtime
from qwen_server.config import Settings
from qwen_server.core.errors import GatewayError, Overloaded, UpstreamError
from qwen_server.core.model import (
    ChatRequest,
    Event,
    Finish,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from qwen_server.core.tokens import count_tokens
from tests.anthropic_grammar import CheckedStream, check_stream

# silences below last 1.5 s: some 15 intervals, so a loaded machine that delays each ping still sends the
# few the tests ask for
PING_INTERVAL = 0.1


@dataclass
class PingsSent:
    """A silent stretch of the script that lasts until the route has sent this many pings in all, counting the
    one after `message_start` (whatever the machine's speed; 30 s at most). A total, not a difference: the
    events before this step may still sit in the route's read-ahead queue when the script reaches it."""

    total: int


Step = Event | float | GatewayError | PingsSent


class PingCounter:
    """The ASGI app, counting the `ping` events it writes to the client as they are sent."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.sent = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def counting(message: Any) -> None:
            if message.get("type") == "http.response.body":
                self.sent += bytes(message.get("body", b"")).count(b"event: ping")
            await send(message)

        await self.app(scope, receive, counting)


class ScriptedGateway:
    """Replaces `Gateway.stream`: plays a script (events, pauses in seconds, errors) and keeps the requests."""

    def __init__(self) -> None:
        self.script: list[Step] = []
        self.requests: list[ChatRequest] = []
        self.closed = 0
        self.pings = PingCounter(None)  # the `http` fixture's app, once built

    async def stream(self, request: ChatRequest, cls: str = "chat") -> AsyncIterator[Event]:
        self.requests.append(request)
        try:
            for step in self.script:
                if isinstance(step, float):
                    await asyncio.sleep(step)
                elif isinstance(step, PingsSent):
                    wanted = step.total
                    for _ in range(3000):
                        if self.pings.sent >= wanted:
                            break
                        await asyncio.sleep(0.01)
                elif isinstance(step, GatewayError):
                    raise step
                else:
                    yield step
        finally:
            self.closed += 1


@pytest.fixture
def runtime() -> RuntimeCell:
    settings = Settings(qwen_accounts="[]", store_url="memory://", anthropic_ping_interval=PING_INTERVAL)
    return RuntimeCell.holding(build_runtime(settings))


@pytest.fixture
def scripted(runtime: RuntimeCell, monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedGateway]:
    built = runtime.current()
    assert built is not None
    gateway = ScriptedGateway()
    monkeypatch.setattr(built.gateway, "stream", gateway.stream)
    yield gateway


@pytest.fixture
def http(runtime: RuntimeCell, scripted: ScriptedGateway) -> httpx.AsyncClient:
    scripted.pings.app = build_app(["messages", "meta"], runtime)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=scripted.pings), base_url="http://gateway")


@pytest.fixture
def client(runtime: RuntimeCell) -> anthropic.AsyncAnthropic:
    # the SDK brings its own fork of httpx (`httpx2`), so it gets a transport of its own kind
    app = build_app(["messages", "meta"], runtime)
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://gateway")
    return anthropic.AsyncAnthropic(base_url="http://gateway", api_key="k", http_client=http, max_retries=0)


WEATHER: ToolParam = {
    "name": "get_weather",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
TOOL_ANSWER: list[Step] = [
    TextDelta("Let me check."),
    ToolCallStart(0, "call_abc", "get_weather"),
    ToolCallDelta(0, '{"city": '),
    ToolCallDelta(0, '"Paris"}'),
    ToolCallEnd(0),
    Usage(30, 12),
    Finish("tool_calls"),
]
BODY: dict[str, Any] = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 1024,
    "messages": [{"role": "user", "content": "Weather in Paris?"}],
}


async def raw_stream(http: httpx.AsyncClient, **body: Any) -> tuple[httpx.Response, CheckedStream]:
    response = await http.post(
        "/v1/messages", json={**BODY, "stream": True, **body}, headers={"x-api-key": "k"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return response, check_stream(response.content)


async def test_tool_use_streams_through_the_sdk(
    scripted: ScriptedGateway, client: anthropic.AsyncAnthropic
) -> None:
    scripted.script = TOOL_ANSWER
    async with client.messages.stream(**BODY, tools=[WEATHER]) as stream:
        kinds = [event.type async for event in stream]
        message = await stream.get_final_message()
    assert "input_json" in kinds
    assert message.stop_reason == "tool_use"
    assert message.model == "claude-sonnet-4-6"
    text, call = message.content
    assert text.type == "text" and text.text == "Let me check."
    assert call.type == "tool_use" and call.name == "get_weather" and call.input == {"city": "Paris"}
    assert call.id == "toolu_abc"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (30, 12)


async def test_tool_use_raw_stream_keeps_the_grammar(
    scripted: ScriptedGateway, http: httpx.AsyncClient
) -> None:
    scripted.script = TOOL_ANSWER
    _, result = await raw_stream(http, tools=[WEATHER])
    assert [b["type"] for b in result.blocks] == ["text", "tool_use"]
    assert result.blocks[1]["input"] == {"city": "Paris"}
    assert result.stop_reason == "tool_use"
    assert result.names.count("content_block_stop") == 2


async def test_tool_use_non_stream(scripted: ScriptedGateway, client: anthropic.AsyncAnthropic) -> None:
    scripted.script = TOOL_ANSWER
    message = await client.messages.create(**BODY, tools=[WEATHER], tool_choice={"type": "any"})
    assert message.stop_reason == "tool_use"
    assert message.content[1].type == "tool_use" and message.content[1].input == {"city": "Paris"}
    assert scripted.requests[-1].tool_choice == "required"
    assert [t.name for t in scripted.requests[-1].tools] == ["get_weather"]


async def test_the_route_maps_identity_model_and_thinking(
    scripted: ScriptedGateway, http: httpx.AsyncClient
) -> None:
    scripted.script = [TextDelta("ok"), Usage(1, 1), Finish()]
    response = await http.post(
        "/v1/messages",
        json={**BODY, "thinking": {"type": "enabled", "budget_tokens": 2048}, "metadata": {"user_id": "u-7"}},
        headers={
            "x-api-key": "secret",
            "anthropic-version": "2023-06-01",
            "anthropic-beta": "anything-at-all",
        },
    )
    assert response.status_code == 200, response.text
    request = scripted.requests[-1]
    assert request.model == "qwen3-coder-plus"  # the sonnet family in shared/models.json
    assert (request.thinking, request.thinking_budget) == (True, 2048)
    assert request.session_id == "u-7" and request.user == "u-7"
    assert request.tenant == KEYLESS_TENANT  # no GATEWAY_API_KEYS here: a sent key is not an identity
    response = await http.post("/v1/messages", json=BODY, headers={"x-claude-code-session-id": "cc-1"})
    assert scripted.requests[-1].session_id == "cc-1"


async def test_a_slow_first_event_is_preceded_by_pings(
    scripted: ScriptedGateway, http: httpx.AsyncClient
) -> None:
    scripted.script = [PingsSent(3), TextDelta("late"), Usage(1, 1), Finish()]
    _, result = await raw_stream(http)
    assert result.text == "late"
    assert result.pings_before_first_block >= 3  # the one after message_start and one per silent interval


async def test_silence_mid_answer_sends_pings(scripted: ScriptedGateway, http: httpx.AsyncClient) -> None:
    scripted.script = [TextDelta("a"), PingsSent(3), TextDelta("b"), Usage(1, 1), Finish()]
    _, result = await raw_stream(http)
    assert result.text == "ab"
    assert result.pings - result.pings_before_first_block >= 2


async def test_failure_before_the_first_event_is_an_http_error(
    scripted: ScriptedGateway, client: anthropic.AsyncAnthropic
) -> None:
    scripted.script = [UpstreamError("every account failed")]
    with pytest.raises(anthropic.APIStatusError) as info:
        async with client.messages.stream(**BODY) as stream:
            await stream.get_final_message()
    assert info.value.status_code == 502
    assert info.value.body == {
        "type": "error",
        "error": {"type": "api_error", "message": "every account failed"},
        "request_id": info.value.response.headers["request-id"],
    }
    assert info.value.response.headers["request-id"].startswith("req_")
    assert scripted.closed == 1


async def test_overload_is_529_with_retry_after(scripted: ScriptedGateway, http: httpx.AsyncClient) -> None:
    scripted.script = [Overloaded("the chat queue is full", retry_after=3)]
    for stream in (True, False):
        response = await http.post("/v1/messages", json={**BODY, "stream": stream})
        assert response.status_code == 529
        assert response.headers["retry-after"] == "3"
        assert response.json()["error"]["type"] == "overloaded_error"


async def test_failure_after_the_stream_started_is_an_error_event(
    scripted: ScriptedGateway, client: anthropic.AsyncAnthropic, http: httpx.AsyncClient
) -> None:
    scripted.script = [TextDelta("partial "), UpstreamError("upstream dropped the answer")]
    _, result = await raw_stream(http)
    assert result.text == "partial "
    assert result.error == {"type": "api_error", "message": "upstream dropped the answer"}
    with pytest.raises(anthropic.APIStatusError, match="upstream dropped the answer"):
        async with client.messages.stream(**BODY) as stream:
            await stream.get_final_message()


async def test_failure_after_a_silent_start_is_an_error_event(
    scripted: ScriptedGateway, http: httpx.AsyncClient
) -> None:
    scripted.script = [1.5, UpstreamError("timed out upstream")]
    _, result = await raw_stream(http)
    assert result.blocks == [] and result.pings >= 2
    assert result.error is not None and result.error["message"] == "timed out upstream"


async def test_non_stream_failure_midway_is_an_http_error(
    scripted: ScriptedGateway, http: httpx.AsyncClient
) -> None:
    scripted.script = [TextDelta("partial"), UpstreamError("broke")]
    response = await http.post("/v1/messages", json=BODY)
    assert response.status_code == 502
    assert response.json() == {
        "type": "error",
        "error": {"type": "api_error", "message": "broke"},
        "request_id": response.headers["request-id"],
    }


async def test_count_tokens_validates_like_create(
    scripted: ScriptedGateway, client: anthropic.AsyncAnthropic
) -> None:
    counted = await client.messages.count_tokens(
        model="claude-3-5-haiku-latest", messages=[{"role": "user", "content": "hello " * 40}]
    )
    with_tools = await client.messages.count_tokens(
        model="claude-3-5-haiku-latest",
        messages=[{"role": "user", "content": "hello " * 40}],
        tools=[WEATHER],
    )
    assert counted.input_tokens == count_tokens("hello " * 40) + MESSAGE_OVERHEAD + REPLY_OVERHEAD
    assert with_tools.input_tokens > counted.input_tokens
    with pytest.raises(anthropic.BadRequestError):
        await client.messages.count_tokens(model="claude-3-5-haiku-latest", messages=[])
    assert scripted.requests == []  # counting never reaches an upstream


async def test_claude_codes_beta_query_is_accepted(
    scripted: ScriptedGateway, http: httpx.AsyncClient
) -> None:
    scripted.script = [TextDelta("ok"), Usage(1, 1), Finish()]
    response = await http.post(
        "/v1/messages?beta=true", json=BODY, headers={"anthropic-beta": "claude-code-20250219"}
    )
    assert response.status_code == 200 and response.json()["content"] == [{"type": "text", "text": "ok"}]
    counted = await http.post(
        "/v1/messages/count_tokens?beta=true", json={"model": BODY["model"], "messages": BODY["messages"]}
    )
    assert counted.status_code == 200 and counted.json()["input_tokens"] > 0
