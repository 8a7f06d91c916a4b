"""OpenAI contract details clients depend on, through the openai SDK (raw HTTP where the SDK hides them):
content filtering, `usage: null` on non-final chunks, the deprecated `functions`, and message names."""

from __future__ import annotations

import json

import httpx
import openai

from tests.processes import Service, directive

WEATHER_FUNCTION = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
FILTERED = directive(reply="one two three four five six", error="content_filter")


def test_content_filter_ends_a_stream_with_its_finish_reason(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="qwen3-max", stream=True, messages=[{"role": "user", "content": FILTERED}]
        )
    )
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["content_filter"]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text and "one two three four five six".startswith(text) and text != "one two three four five six"


def test_content_filter_in_a_collected_answer(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="qwen3-max", messages=[{"role": "user", "content": FILTERED}]
    )
    assert completion.choices[0].finish_reason == "content_filter"


def test_include_usage_puts_null_usage_on_every_chunk_but_the_last(gateway: Service) -> None:
    body = {
        "model": "qwen3-max",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "alpha beta gamma delta"}],
    }
    response = httpx.post(f"{gateway.url}/v1/chat/completions", json=body, timeout=30)
    lines = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    chunks = [json.loads(line) for line in lines[:-1]]
    assert len(chunks) >= 3
    for chunk in chunks[:-1]:
        assert "usage" in chunk and chunk["usage"] is None, chunk
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0


def test_without_include_usage_chunks_carry_no_usage_key(gateway: Service) -> None:
    body = {"model": "qwen3-max", "stream": True, "messages": [{"role": "user", "content": "alpha beta"}]}
    response = httpx.post(f"{gateway.url}/v1/chat/completions", json=body, timeout=30)
    chunks = [
        json.loads(line[6:])
        for line in response.text.splitlines()
        if line.startswith("data: ") and line != "data: [DONE]"
    ]
    assert chunks and all("usage" not in chunk for chunk in chunks)


def test_deprecated_functions_answer_with_function_call(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="qwen3-max",
        functions=[WEATHER_FUNCTION],  # type: ignore[list-item]
        messages=[{"role": "user", "content": directive(reply=CALL)}],
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "function_call"
    assert choice.message.tool_calls is None
    assert choice.message.function_call is not None
    assert choice.message.function_call.name == "get_weather"
    assert json.loads(choice.message.function_call.arguments) == {"city": "Paris"}


def test_deprecated_functions_stream_function_call_deltas(client: openai.OpenAI) -> None:
    two_calls = CALL + CALL.replace("Paris", "Rome")  # the old API has one call per reply: the first wins
    chunks = list(
        client.chat.completions.create(
            model="qwen3-max",
            stream=True,
            functions=[WEATHER_FUNCTION],  # type: ignore[list-item]
            function_call={"name": "get_weather"},
            messages=[{"role": "user", "content": directive(reply=two_calls)}],
        )
    )
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert not any(d.tool_calls for d in deltas)
    names = [d.function_call.name for d in deltas if d.function_call and d.function_call.name]
    arguments = "".join(d.function_call.arguments or "" for d in deltas if d.function_call)
    assert names == ["get_weather"] and json.loads(arguments) == {"city": "Paris"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "function_call"


def test_deprecated_function_history_is_understood(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="qwen3-max",
        functions=[WEATHER_FUNCTION],  # type: ignore[list-item]
        function_call="auto",
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "function_call": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            },
            {"role": "function", "name": "get_weather", "content": "18C " + directive(reply="It is 18C.")},
        ],
    )
    assert completion.choices[0].message.content == "It is 18C."
    assert completion.choices[0].finish_reason == "stop"


def test_tools_and_functions_together_are_refused(client: openai.OpenAI) -> None:
    try:
        client.chat.completions.create(
            model="qwen3-max",
            functions=[WEATHER_FUNCTION],  # type: ignore[list-item]
            tools=[{"type": "function", "function": WEATHER_FUNCTION}],  # type: ignore[list-item]
            messages=[{"role": "user", "content": "x"}],
        )
    except openai.BadRequestError as exc:
        assert "functions" in str(exc.body)
    else:
        raise AssertionError("expected a 400")


def test_message_names_reach_the_model(client: openai.OpenAI) -> None:
    # the emulator echoes the last user block of the prompt it received, prefixed by the speaker's name
    completion = client.chat.completions.create(
        model="qwen3-max",
        messages=[
            {"role": "system", "content": "Two people are talking.", "name": "narrator"},
            {"role": "user", "content": "I am Bob.", "name": "bob"},
            {"role": "user", "content": "And I am Alice.", "name": "alice"},
        ],
    )
    assert completion.choices[0].message.content == "alice: And I am Alice."
