"""Function calling and response_format through the openai SDK, with scripted model replies."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import pytest
from pydantic import BaseModel

from tests.processes import Service, directive

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}},
    },
}


def call(name: str, arguments: dict[str, object]) -> str:
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": arguments}) + "\n</tool_call>"


@pytest.fixture
def script_queue(emulator: Service) -> Iterator[callable]:  # type: ignore[valid-type]
    def push(*replies: dict[str, object]) -> None:
        httpx.post(
            f"{emulator.url}/_emulator/script", json={"account": None, "replies": list(replies)}, timeout=5
        ).raise_for_status()

    yield push
    httpx.post(f"{emulator.url}/_emulator/reset", json={"all": True}, timeout=30).raise_for_status()


def test_single_call_non_stream(client: openai.OpenAI) -> None:
    reply = "Let me check. " + call("get_weather", {"city": "Paris"})
    completion = client.chat.completions.create(
        model="qwen3-max", tools=[WEATHER], messages=[{"role": "user", "content": directive(reply=reply)}]
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Let me check."
    (tool_call,) = choice.message.tool_calls or []
    assert tool_call.type == "function" and tool_call.id.startswith("call_")
    assert tool_call.function.name == "get_weather"
    assert json.loads(tool_call.function.arguments) == {"city": "Paris"}


def test_parallel_calls_streamed_as_indexed_deltas(client: openai.OpenAI) -> None:
    reply = call("get_weather", {"city": "Paris"}) + "\n" + call("get_time", {"tz": "Europe/Paris"})
    chunks = list(
        client.chat.completions.create(
            model="qwen3-max",
            tools=[WEATHER, TIME],
            stream=True,
            messages=[{"role": "user", "content": directive(reply=reply)}],
        )
    )
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            entry = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            if delta.id:
                assert not entry["id"], "id only in the first fragment"
                entry["id"] = delta.id
                assert delta.function and delta.function.name, "name with the id"
                entry["name"] = delta.function.name
            elif delta.function:
                assert not delta.function.name, "name only in the first fragment"
            if delta.function and delta.function.arguments:
                entry["arguments"] += delta.function.arguments
    assert sorted(calls) == [0, 1]
    assert calls[0]["name"] == "get_weather" and json.loads(calls[0]["arguments"]) == {"city": "Paris"}
    assert calls[1]["name"] == "get_time" and json.loads(calls[1]["arguments"]) == {"tz": "Europe/Paris"}
    assert calls[0]["id"] != calls[1]["id"]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert not "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip()


def test_split_tags_and_text_around_calls_stream_cleanly(client: openai.OpenAI) -> None:
    body = call("get_weather", {"city": "Oslo"})
    pieces = ["Sure <", "b>bold</b> ", body[:7], body[7:20], body[20:]]
    chunks = list(
        client.chat.completions.create(
            model="qwen3-max",
            tools=[WEATHER],
            stream=True,
            messages=[{"role": "user", "content": directive(chunks=pieces)}],
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Sure <b>bold</b>"
    args = "".join(
        (d.function.arguments or "")
        for c in chunks
        if c.choices
        for d in (c.choices[0].delta.tool_calls or [])
        if d.function
    )
    assert json.loads(args) == {"city": "Oslo"}


def test_malformed_call_json_is_repaired(client: openai.OpenAI) -> None:
    reply = "<tool_call>\n{'name': 'get_weather', 'arguments': {'city': 'Rome',}}\n</tool_call>"
    completion = client.chat.completions.create(
        model="qwen3-max", tools=[WEATHER], messages=[{"role": "user", "content": directive(reply=reply)}]
    )
    (tool_call,) = completion.choices[0].message.tool_calls or []
    assert json.loads(tool_call.function.arguments) == {"city": "Rome"}


def test_unrepairable_call_is_passed_through_as_text(client: openai.OpenAI) -> None:
    reply = "<tool_call>\nnot json at all\n</tool_call>"
    completion = client.chat.completions.create(
        model="qwen3-max", tools=[WEATHER], messages=[{"role": "user", "content": directive(reply=reply)}]
    )
    assert completion.choices[0].message.tool_calls is None
    assert completion.choices[0].finish_reason == "stop"
    assert "not json at all" in (completion.choices[0].message.content or "")


def test_multi_turn_with_tool_results(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="qwen3-max",
        tools=[WEATHER],
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {
                "role": "tool",
                "tool_call_id": "call_1",
                "content": "18C and sunny " + directive(reply="It is 18C."),
            },
        ],
    )
    assert completion.choices[0].message.content == "It is 18C."
    assert completion.choices[0].finish_reason == "stop"


def test_parallel_tool_calls_false_keeps_the_first(client: openai.OpenAI) -> None:
    reply = call("get_weather", {"city": "A"}) + call("get_weather", {"city": "B"})
    completion = client.chat.completions.create(
        model="qwen3-max",
        tools=[WEATHER],
        parallel_tool_calls=False,
        messages=[{"role": "user", "content": directive(reply=reply)}],
    )
    calls = completion.choices[0].message.tool_calls or []
    assert [json.loads(c.function.arguments)["city"] for c in calls] == ["A"]


def test_tool_choice_none_never_leaks_call_markup(client: openai.OpenAI) -> None:
    reply = "literal " + call("get_weather", {"city": "X"}) + " and more"
    completion = client.chat.completions.create(
        model="qwen3-max",
        tools=[WEATHER],
        tool_choice="none",
        messages=[{"role": "user", "content": directive(reply=reply)}],
    )
    assert completion.choices[0].message.tool_calls is None
    assert completion.choices[0].message.content == "literal and more"
    assert completion.choices[0].finish_reason == "stop"


def test_tool_choice_none_strips_markup_split_across_chunks(client: openai.OpenAI) -> None:
    body = call("get_weather", {"city": "X"})
    pieces = [
        "Sure <",
        "b>bold</b> ",
        body[:5],
        body[5:30],
        body[30:],
        "\nunclosed <tool_call>{",
        '"name": "x"',
    ]
    chunks = list(
        client.chat.completions.create(
            model="qwen3-max",
            tools=[WEATHER],
            tool_choice="none",
            stream=True,
            messages=[{"role": "user", "content": directive(chunks=pieces)}],
        )
    )
    assert not any(c.choices[0].delta.tool_calls for c in chunks if c.choices)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Sure <b>bold</b> unclosed"


def test_tool_choice_required_retries_once(client: openai.OpenAI, script_queue, emulator: Service) -> None:  # type: ignore[no-untyped-def]
    script_queue({"reply": "I would rather chat."}, {"reply": call("get_weather", {"city": "Lima"})})
    completion = client.chat.completions.create(
        model="qwen3-max",
        tools=[WEATHER],
        tool_choice="required",
        messages=[{"role": "user", "content": "weather?"}],
    )
    (tool_call,) = completion.choices[0].message.tool_calls or []
    assert json.loads(tool_call.function.arguments) == {"city": "Lima"}
    assert completion.choices[0].finish_reason == "tool_calls"
    assert httpx.get(f"{emulator.url}/_emulator/stats", timeout=30).json()["scripts_pending"] == 0


def test_named_tool_choice_gives_an_honest_answer_after_the_retry(
    client: openai.OpenAI, script_queue
) -> None:  # type: ignore[no-untyped-def]
    script_queue({"reply": call("get_time", {})}, {"reply": "Still no weather call."})
    stream = client.chat.completions.create(
        model="qwen3-max",
        tools=[WEATHER, TIME],
        stream=True,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        messages=[{"role": "user", "content": "weather?"}],
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Still no weather call."
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens > 0


def test_response_format_json_object_strips_a_fence(client: openai.OpenAI) -> None:
    reply = '```json\n{"answer": 42}\n```'
    completion = client.chat.completions.create(
        model="qwen3-max",
        response_format={"type": "json_object"},
        messages=[{"role": "user", "content": directive(reply=reply)}],
    )
    assert json.loads(completion.choices[0].message.content or "") == {"answer": 42}


def test_response_format_json_schema_repairs_once(client: openai.OpenAI, script_queue) -> None:  # type: ignore[no-untyped-def]
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "required": ["n"],
        "additionalProperties": False,
    }
    script_queue({"reply": '{"n": "seven"}'}, {"reply": '{"n": 7}'})
    completion = client.chat.completions.create(
        model="qwen3-max",
        response_format={"type": "json_schema", "json_schema": {"name": "count", "schema": schema}},
        messages=[{"role": "user", "content": "count"}],
    )
    assert json.loads(completion.choices[0].message.content or "") == {"n": 7}


def test_tool_choice_naming_an_unknown_tool_is_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="qwen3-max",
            tools=[WEATHER],
            tool_choice={"type": "function", "function": {"name": "launch_rockets"}},
            messages=[{"role": "user", "content": "x"}],
        )
    assert "tool_choice" in str(info.value.body)


class Count(BaseModel):
    n: int


def test_a_json_schema_broken_twice_is_an_error_not_an_answer(
    gateway: Service, script_queue, emulator: Service  # type: ignore[no-untyped-def]
) -> None:
    """`parse` raises instead of parsing an invalid body, and the SDK's own retries stay off (the gateway
    says `x-should-retry: false`): the first answer and the repair answer are all that was asked for."""
    patient = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=2)
    script_queue({"reply": '{"n": "seven"}'}, {"reply": "Seven, I think."}, {"reply": '{"n": 7}'})
    with pytest.raises(openai.APIStatusError) as caught:
        patient.chat.completions.parse(
            model="qwen3-max", response_format=Count, messages=[{"role": "user", "content": "count to seven"}]
        )
    assert caught.value.status_code == 502
    assert caught.value.response.headers["x-should-retry"] == "false"
    body = caught.value.body
    assert isinstance(body, dict) and body["code"] == "invalid_model_output"
    assert "not the JSON" in body["message"]
    stats = httpx.get(f"{emulator.url}/_emulator/stats", timeout=5).json()
    assert stats["scripts_pending"] == 1, "two answers were asked for, not a third"


def test_a_streamed_json_schema_broken_twice_fails_before_the_first_byte(
    client: openai.OpenAI, script_queue  # type: ignore[no-untyped-def]
) -> None:
    script_queue({"reply": "no"}, {"reply": "still no"})
    schema = Count.model_json_schema()
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(
            model="qwen3-max",
            stream=True,
            response_format={"type": "json_schema", "json_schema": {"name": "count", "schema": schema}},
            messages=[{"role": "user", "content": "count"}],
        )
    assert caught.value.status_code == 502
