"""Chat completions through the official openai SDK, against the gateway and the emulator as processes."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.processes import Service, directive


def test_non_stream_echoes_the_last_user_message(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="qwen3-max", messages=[{"role": "user", "content": "ping from the sync client"}]
    )
    assert completion.object == "chat.completion"
    assert completion.model == "qwen3-max"
    assert completion.choices[0].message.content == "ping from the sync client"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens > 0


def test_stream_yields_pieces_and_done(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="qwen3-max", messages=[{"role": "user", "content": "one two three four"}], stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four"
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) >= 4
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks), "no usage chunk unless asked"


def test_stream_include_usage_sends_a_final_usage_chunk(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="qwen3-max",
            messages=[{"role": "user", "content": "count my tokens"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert last.usage.prompt_tokens > 0 and last.usage.completion_tokens > 0
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens


async def test_async_client_stream_and_non_stream(async_client: openai.AsyncOpenAI) -> None:
    completion = await async_client.chat.completions.create(
        model="qwen3-max", messages=[{"role": "user", "content": "async hello"}]
    )
    assert completion.choices[0].message.content == "async hello"
    stream = await async_client.chat.completions.create(
        model="qwen3-max", messages=[{"role": "user", "content": "async stream hello"}], stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "async stream hello"


def test_history_system_and_content_parts_reach_the_upstream(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="qwen3-max",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "first answer"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "second "}, {"type": "text", "text": "question"}],
            },
        ],
    )
    # the emulator echoes the last [user] block of the flattened conversation
    assert completion.choices[0].message.content == "second question"


def test_thinking_comes_back_as_reasoning_content(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="qwen3-max",
        messages=[
            {"role": "user", "content": "think about this " + directive(reply="42", thinking="deep thoughts")}
        ],
        extra_body={"enable_thinking": True},
    )
    message = completion.choices[0].message
    assert message.content == "42"
    assert getattr(message, "reasoning_content", None) == "deep thoughts"

    chunks = list(
        client.chat.completions.create(
            model="qwen3-max",
            messages=[{"role": "user", "content": directive(reply="ok", thinking="streamed thoughts")}],
            reasoning_effort="high",
            stream=True,
        )
    )
    reasoning = "".join(
        getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices
    )
    assert reasoning == "streamed thoughts"
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == "ok"


def test_no_thinking_unless_asked(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="qwen3-max", messages=[{"role": "user", "content": directive(reply="plain", thinking="hidden")}]
    )
    assert completion.choices[0].message.content == "plain"
    assert getattr(completion.choices[0].message, "reasoning_content", None) is None


def test_stop_sequence_cuts_the_answer(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="qwen3-max",
        messages=[{"role": "user", "content": directive(chunks=["alpha be", "ta END gam", "ma"])}],
        stop=["END"],
    )
    assert completion.choices[0].message.content == "alpha beta "
    assert completion.choices[0].finish_reason == "stop"

    streamed = list(
        client.chat.completions.create(
            model="qwen3-max",
            messages=[{"role": "user", "content": directive(chunks=["alpha be", "ta EN", "D gamma"])}],
            stop="END",
            stream=True,
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == "alpha beta "


def test_max_tokens_truncates_with_finish_reason_length(client: openai.OpenAI) -> None:
    long_reply = " ".join(f"word{i}" for i in range(200))
    completion = client.chat.completions.create(
        model="qwen3-max", messages=[{"role": "user", "content": directive(reply=long_reply)}], max_tokens=10
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "length"
    assert 0 < len(choice.message.content or "") < len(long_reply)
    assert long_reply.startswith(choice.message.content or "")

    completion = client.chat.completions.create(
        model="qwen3-max",
        messages=[{"role": "user", "content": directive(reply=long_reply)}],
        max_completion_tokens=5,
        stream=False,
    )
    assert completion.choices[0].finish_reason == "length"


def test_sampling_parameters_are_accepted(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="qwen3-max",
        messages=[{"role": "user", "content": "params"}],
        temperature=0.2,
        top_p=0.9,
        seed=1,
        user="someone",
    )
    assert completion.choices[0].message.content == "params"


def test_alias_model_is_echoed(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "alias"}]
    )
    assert completion.model == "gpt-4o"
    assert completion.choices[0].message.content == "alias"


def test_every_response_has_a_request_id(gateway: Service) -> None:
    for method, path in [
        ("GET", "/health"),
        ("GET", "/v1/models"),
        ("GET", "/nope"),
        ("POST", "/v1/chat/completions"),
    ]:
        response = httpx.request(method, gateway.url + path, content=b"{}", timeout=30)
        assert response.headers.get("x-request-id", "").startswith("req_"), (method, path)


@pytest.mark.parametrize("stream", [False, True])
def test_upstream_error_after_first_byte_in_stream(client: openai.OpenAI, stream: bool) -> None:
    if stream:
        chunks = client.chat.completions.create(
            model="qwen3-max",
            messages=[{"role": "user", "content": directive(reply="partial answer here", error="in_stream")}],
            stream=True,
        )
        with pytest.raises(openai.APIError):
            for _ in chunks:
                pass
    else:
        with pytest.raises(openai.APIStatusError) as info:
            client.chat.completions.create(
                model="qwen3-max",
                messages=[
                    {"role": "user", "content": directive(reply="partial answer here", error="in_stream")}
                ],
            )
        assert info.value.status_code == 502
