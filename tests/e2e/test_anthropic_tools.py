"""Tool use over /v1/messages against gateway and emulator processes.

The emulator is scripted to answer with a Nous `<tool_call>` block, which the gateway's parser turns into
neutral tool-call events and this API into `tool_use` blocks; tool history going *in* (tool_use and
tool_result blocks) is mapped to the neutral calls and results. Every raw stream is grammar-checked.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import anthropic
import httpx
import pytest
from anthropic.types import MessageParam, ToolParam

from tests.anthropic_grammar import CheckedStream, check_stream
from tests.processes import Service, directive, emulator_accounts, start_gateway

MODEL = "claude-opus-4-1"
WEATHER: ToolParam = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
CALL = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
SCRIPTED_CALL = directive(reply="Let me check.\n" + CALL)


@pytest.fixture(scope="module")
def tools_gateway(emulator: Service) -> Iterator[Service]:
    service = start_gateway({"ANTHROPIC_PING_INTERVAL": "1"}, accounts=emulator_accounts(emulator, 2))
    yield service
    service.stop()


@pytest.fixture
def client(tools_gateway: Service) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=tools_gateway.url, api_key="k", max_retries=0)


def raw_stream(gateway: Service, **body: Any) -> CheckedStream:
    response = httpx.post(
        f"{gateway.url}/v1/messages",
        json={"model": MODEL, "max_tokens": 1024, "stream": True, **body},
        headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return check_stream(response.content)


def test_tool_call_streams_as_a_tool_use_block(tools_gateway: Service, client: anthropic.Anthropic) -> None:
    result = raw_stream(tools_gateway, tools=[WEATHER], messages=[{"role": "user", "content": SCRIPTED_CALL}])
    assert [b["type"] for b in result.blocks] == ["text", "tool_use"]
    assert result.text == "Let me check."
    assert result.blocks[1]["name"] == "get_weather" and result.blocks[1]["input"] == {"city": "Paris"}
    assert result.stop_reason == "tool_use"

    with client.messages.stream(
        model=MODEL,
        max_tokens=1024,
        tools=[WEATHER],
        messages=[{"role": "user", "content": SCRIPTED_CALL}],
    ) as stream:
        message = stream.get_final_message()
    assert message.stop_reason == "tool_use"
    call = message.content[-1]
    assert call.type == "tool_use" and call.input == {"city": "Paris"}
    assert call.id.startswith("toolu_") and len(call.id) > len("toolu_")


def test_tool_call_non_stream(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model=MODEL,
        max_tokens=1024,
        tools=[WEATHER],
        tool_choice={"type": "tool", "name": "get_weather"},
        messages=[{"role": "user", "content": SCRIPTED_CALL}],
    )
    assert message.stop_reason == "tool_use"
    assert [b.type for b in message.content] == ["text", "tool_use"]
    assert message.content[1].input == {"city": "Paris"}  # type: ignore[union-attr]
    assert message.content[1].id.startswith("toolu_")  # type: ignore[union-attr]


def _history(result_content: Any, **result: Any) -> list[MessageParam]:
    history: list[dict[str, Any]] = [
        {"role": "user", "content": "What is the weather in Paris?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "content": result_content, **result}
            ],
        },
    ]
    return cast(list[MessageParam], history)


def test_tool_results_continue_the_conversation(tools_gateway: Service, client: anthropic.Anthropic) -> None:
    reply = directive(reply="It is 18C and sunny in Paris.")
    message = client.messages.create(
        model=MODEL,
        max_tokens=256,
        tools=[WEATHER],
        messages=_history([{"type": "text", "text": "18C, sunny " + reply}]),
    )
    assert message.content[0].text == "It is 18C and sunny in Paris."  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"

    result = raw_stream(tools_gateway, tools=[WEATHER], messages=_history("no data " + reply, is_error=True))
    assert result.text == "It is 18C and sunny in Paris."
    assert result.stop_reason == "end_turn" and result.of_type("tool_use") == []


@pytest.mark.parametrize(
    "choice",
    [{"type": "auto"}, {"type": "any"}, {"type": "none"}, {"type": "tool", "name": "get_weather"}],
)
def test_every_tool_choice_is_accepted(tools_gateway: Service, choice: dict[str, Any]) -> None:
    result = raw_stream(
        tools_gateway,
        tools=[WEATHER],
        tool_choice=choice,
        messages=[{"role": "user", "content": directive(reply="fine")}],
    )
    assert "fine" in result.text


def test_tool_choice_none_never_leaks_call_markup(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model=MODEL,
        max_tokens=1024,
        tools=[WEATHER],
        tool_choice={"type": "none"},
        messages=[{"role": "user", "content": SCRIPTED_CALL}],
    )
    assert message.stop_reason == "end_turn"
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "Let me check."  # type: ignore[union-attr]
