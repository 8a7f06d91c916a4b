"""An OpenAI-compatible upstream's answer as neutral events, through the provider over a mock transport."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson

from qwen_server.core.model import (
    ChatRequest,
    Event,
    Finish,
    Flush,
    Message,
    TextDelta,
    TextPart,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    ToolSpec,
    Usage,
)
from qwen_server.providers.base import Account
from qwen_server.providers.http import ClientRegistry
from qwen_server.providers.openai_compat import OpenAICompatProvider
from qwen_server.providers.openai_events import StreamReader, completion_events
from qwen_server.providers.qwen_web.provider import QwenWebProvider

ACCOUNT = Account(id="a", kind="dashscope", base_url="http://upstream.test/v1", name="ds", api_key="sk")


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish, **extra}
    return (
        b"data: "
        + orjson.dumps({"id": "c", "object": "chat.completion.chunk", "choices": [choice]})
        + b"\n\n"
    )


def _call(index: int, call_id: str = "", name: str | None = None, arguments: str = "") -> dict[str, Any]:
    function: dict[str, Any] = {"arguments": arguments}
    if name is not None:
        function["name"] = name
    return {"index": index, "id": call_id, "type": "function", "function": function}


class _Pieces(httpx.AsyncByteStream):
    """A body that arrives in pieces, as from a socket (a `content=` body would count as already read)."""

    def __init__(self, pieces: list[bytes]) -> None:
        self._pieces = pieces

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self._pieces:
            yield piece


async def _events(
    body: list[bytes], content_type: str, stream: bool = True
) -> tuple[list[Event], dict[str, Any]]:
    seen: dict[str, Any] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.update(orjson.loads(request.content))
        return httpx.Response(200, stream=_Pieces(body), headers={"content-type": content_type})

    provider = OpenAICompatProvider(ClientRegistry(transport=httpx.MockTransport(handler)))
    request = ChatRequest(
        model="qwen-plus",
        messages=[Message("user", [TextPart("weather in Paris and Rome?")])],
        stream=stream,
        tools=[ToolSpec("get_weather")],
    )
    # the read marks (`Flush`) are the writers' business; these tests look at what was said
    return [e async for e in provider.stream(request, ACCOUNT) if not isinstance(e, Flush)], seen


async def test_streamed_native_calls_become_neutral_call_events() -> None:
    """DashScope's shape: id and name in the first fragment, then `"id": ""` with argument pieces."""
    body = [
        _chunk({"role": "assistant", "content": ""}),
        _chunk({"tool_calls": [_call(0, "call_a", "get_weather")]}),
        _chunk({"tool_calls": [_call(0, arguments='{"city":')]}),
        _chunk({"tool_calls": [_call(0, arguments=' "Paris"}')]}),
        _chunk({"tool_calls": [_call(1, "call_b", "get_weather", '{"city": "Rome"}')]}),
        _chunk({}, "tool_calls"),
        b'data: {"id":"c","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":30}}\n\n',
        b"data: [DONE]\n\n",
    ]
    events, sent = await _events(body, "text/event-stream")
    assert sent["tools"] == [{"type": "function", "function": {"name": "get_weather"}}]
    assert events == [
        ToolCallStart(0, "call_a", "get_weather"),
        ToolCallDelta(0, '{"city":'),
        ToolCallDelta(0, ' "Paris"}'),
        ToolCallEnd(0),
        ToolCallStart(1, "call_b", "get_weather"),
        ToolCallDelta(1, '{"city": "Rome"}'),
        ToolCallEnd(1),
        Usage(12, 30),
        Finish("tool_calls"),
    ]


async def test_a_non_streamed_body_gives_the_same_events() -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_a",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"c": 1}'},
            },
            {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
        ],
    }
    body = {
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 9},
    }
    events, sent = await _events([orjson.dumps(body)], "application/json", stream=False)
    assert sent["stream"] is False
    assert events == [
        ToolCallStart(0, "call_a", "get_weather"),
        ToolCallDelta(0, '{"c": 1}'),
        ToolCallEnd(0),
        ToolCallStart(1, "call_b", "get_time"),
        ToolCallDelta(1, "{}"),
        ToolCallEnd(1),
        Usage(5, 9),
        Finish("tool_calls"),
    ]


def test_servers_that_reuse_index_zero_or_send_the_name_late_still_map() -> None:
    reader = StreamReader()
    events: list[Event] = []
    for delta in (
        {"tool_calls": [_call(0, "call_a", arguments='{"x"')]},  # arguments before the name
        {"tool_calls": [_call(0, name="f", arguments=": 1}")]},
        {"tool_calls": [_call(0, "call_b", "g", "{}")]},  # a new id at index 0: a second call
    ):
        events += reader.chunk(orjson.dumps({"choices": [{"index": 0, "delta": delta}]}).decode())
    events += reader.end()
    assert events == [
        ToolCallStart(0, "call_a", "f"),
        ToolCallDelta(0, '{"x": 1}'),
        ToolCallEnd(0),
        ToolCallStart(1, "call_b", "g"),
        ToolCallDelta(1, "{}"),
        ToolCallEnd(1),
    ]


LOGPROBS = {
    "content": [
        {
            "token": "Hi",
            "logprob": -0.25,
            "bytes": [72, 105],
            "top_logprobs": [{"token": "Hi", "logprob": -0.25, "bytes": [72, 105]}],
        }
    ]
}


def test_logprobs_come_with_their_text() -> None:
    reader = StreamReader()
    events = reader.chunk(
        orjson.dumps({"choices": [{"delta": {"content": "Hi"}, "logprobs": LOGPROBS}]}).decode()
    )
    assert events == [TextDelta("Hi", LOGPROBS["content"])]  # type: ignore[arg-type]
    body = {"choices": [{"message": {"content": "Hi"}, "logprobs": LOGPROBS, "finish_reason": "stop"}]}
    assert completion_events(orjson.dumps(body)) == [TextDelta("Hi", LOGPROBS["content"]), Finish()]  # type: ignore[arg-type]
    malformed = {"choices": [{"delta": {"content": "x"}, "logprobs": {"content": [{"logprob": "high"}]}}]}
    assert StreamReader().chunk(orjson.dumps(malformed).decode()) == [TextDelta("x")]


def test_which_providers_speak_tools_natively() -> None:
    assert OpenAICompatProvider.native_tools is True
    assert QwenWebProvider.native_tools is False
