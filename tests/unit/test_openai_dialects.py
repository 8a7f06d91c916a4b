"""The body an OpenAI-compatible upstream is sent: every switch native, spelled as the kind's table row says."""

from __future__ import annotations

from typing import Any

from qwen_server.core.model import ChatRequest, Message, TextPart, ToolCall, ToolSpec
from qwen_server.providers.openai_dialects import DIALECTS, build_body

WEATHER = ToolSpec(
    "get_weather", "Weather by city", {"type": "object", "properties": {"city": {"type": "string"}}}
)


def _request(**kw: Any) -> ChatRequest:
    return ChatRequest(model="qwen-plus", messages=[Message("user", [TextPart("hi")])], **kw)


FULL = {
    "temperature": 0.3,
    "top_p": 0.9,
    "top_k": 20,
    "seed": 7,
    "max_tokens": 100,
    "frequency_penalty": 0.5,
    "presence_penalty": -0.5,
    "repetition_penalty": 1.05,
    "tools": [WEATHER],
    "tool_choice": {"name": "get_weather"},
    "parallel_tool_calls": False,
    "response_format": {"type": "json_object"},
    "logprobs": True,
    "top_logprobs": 3,
}


def test_dashscope_gets_every_parameter_natively() -> None:
    body = build_body(_request(**FULL), "dashscope")
    assert {k: body[k] for k in ("temperature", "top_p", "top_k", "seed", "max_tokens")} == {
        "temperature": 0.3,
        "top_p": 0.9,
        "top_k": 20,
        "seed": 7,
        "max_tokens": 100,
    }
    assert (body["frequency_penalty"], body["presence_penalty"], body["repetition_penalty"]) == (
        0.5,
        -0.5,
        1.05,
    )
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather by city",
                "parameters": WEATHER.parameters,
            },
        }
    ]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["parallel_tool_calls"] is False
    assert body["response_format"] == {"type": "json_object"}
    assert (body["logprobs"], body["top_logprobs"]) == (True, 3)
    assert body["enable_thinking"] is False  # DashScope's row: the switch is always explicit
    assert body["messages"] == [{"role": "user", "content": "hi"}]  # no tool prompt in front of native tools


def test_the_openai_kind_reads_its_own_row() -> None:
    body = build_body(_request(**FULL), "openai")
    assert DIALECTS["openai"]["params"]["repetition_penalty"] is None
    assert "repetition_penalty" not in body and body["top_k"] == 20 and body["seed"] == 7
    assert "enable_thinking" not in body
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}


def test_nothing_unasked_is_sent() -> None:
    body = build_body(_request(), "openai")
    assert set(body) == {"model", "messages", "stream", "stream_options"}
    modes = build_body(_request(tools=[ToolSpec("ping")], tool_choice="required"), "openai")
    assert modes["tools"] == [{"type": "function", "function": {"name": "ping"}}]
    assert modes["tool_choice"] == "required" and modes["parallel_tool_calls"] is True
    dashscope = build_body(_request(tools=[ToolSpec("ping")], tool_choice="required"), "dashscope")
    assert dashscope["tool_choice"] == "auto"  # DashScope has no "required"; the gateway checks for a call


def test_tool_history_goes_back_in_openais_shape() -> None:
    messages = [
        Message("user", [TextPart("weather?")]),
        Message("assistant", [], tool_calls=[ToolCall("call_1", "get_weather", '{"city": "Paris"}')]),
        Message("tool", [TextPart("sunny")], tool_call_id="call_1"),
    ]
    body = build_body(ChatRequest(model="m", messages=messages, tools=[WEATHER]), "dashscope")
    assert body["messages"][1]["tool_calls"] == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        }
    ]
    assert body["messages"][2] == {"role": "tool", "content": "sunny", "tool_call_id": "call_1"}
