"""`openai` and `dashscope` accounts get tools and sampling switches natively; native tool calls come back.

The openai SDK talks to the gateway process, whose only account points at a fake OpenAI-compatible upstream
(`tests/fake_openai_upstream.py`, its own process) that answers tools with native `tool_calls` and records
every body it receives.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from qwen_server.api.anthropic.count import MESSAGE_OVERHEAD, REPLY_OVERHEAD
from qwen_server.core.tokens import count_tokens
from tests.processes import Service, start_gateway, start_recording_openai

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather by city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
SAMPLING: dict[str, Any] = {
    "seed": 42,
    "frequency_penalty": 0.5,
    "presence_penalty": -0.25,
    "temperature": 0.2,
}
EXTRA_BODY = {"top_k": 20, "repetition_penalty": 1.05}


@pytest.fixture(scope="module")
def upstream() -> Iterator[Service]:
    service = start_recording_openai()
    yield service
    service.stop()


@pytest.fixture(scope="module", params=["openai", "dashscope"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def gateway(upstream: Service, kind: str) -> Iterator[Service]:
    account = {"kind": kind, "base_url": f"{upstream.url}/v1", "api_key": "sk-fake", "models": ["qwen-plus"]}
    service = start_gateway(accounts=[account])
    yield service
    service.stop()


@pytest.fixture
def client(gateway: Service) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)


def _last_body(upstream: Service) -> dict[str, Any]:
    received = httpx.get(f"{upstream.url}/_fake/requests", timeout=30).json()
    assert received, "the upstream saw no request"
    body: dict[str, Any] = received[-1]
    return body


def _assert_sent_natively(body: dict[str, Any], kind: str) -> None:
    assert body["tools"] == [WEATHER]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["parallel_tool_calls"] is False
    assert {k: body[k] for k in SAMPLING} == SAMPLING
    assert body["top_k"] == 20
    # DashScope's row sends repetition_penalty; the plain openai row has no such parameter
    assert body.get("repetition_penalty") == (1.05 if kind == "dashscope" else None)


def _ask(client: openai.OpenAI, stream: bool) -> Any:
    return client.chat.completions.create(
        model="qwen-plus",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        parallel_tool_calls=False,
        stream=stream,
        extra_body=EXTRA_BODY,
        **SAMPLING,
    )


def test_a_native_tool_call_non_streamed(client: openai.OpenAI, upstream: Service, kind: str) -> None:
    reply = _ask(client, stream=False)
    _assert_sent_natively(_last_body(upstream), kind)
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert calls is not None and len(calls) == 1
    assert calls[0].id == "call_fake_1" and calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments) == {"city": "Paris"}


def test_a_native_tool_call_streamed(client: openai.OpenAI, upstream: Service, kind: str) -> None:
    chunks = list(_ask(client, stream=True))
    _assert_sent_natively(_last_body(upstream), kind)
    fragments = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or ()]
    assert fragments[0].id == "call_fake_1" and fragments[0].function.name == "get_weather"
    assert {f.index for f in fragments} == {0}
    arguments = "".join(f.function.arguments or "" for f in fragments)
    assert json.loads(arguments) == {"city": "Paris"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [
        "tool_calls"
    ]


def test_logprobs_come_back_from_the_upstream(client: openai.OpenAI, upstream: Service) -> None:
    reply = client.chat.completions.create(
        model="qwen-plus", messages=[{"role": "user", "content": "hi"}], logprobs=True, top_logprobs=1
    )
    assert (_last_body(upstream)["logprobs"], _last_body(upstream)["top_logprobs"]) == (True, 1)
    assert reply.choices[0].message.content == "Hi there"
    content = reply.choices[0].logprobs and reply.choices[0].logprobs.content
    assert content and [t.token for t in content] == ["Hi", " there"]
    assert content[0].logprob == -0.5 and content[0].top_logprobs[0].token == "Hi"
    streamed = list(
        client.chat.completions.create(
            model="qwen-plus", messages=[{"role": "user", "content": "hi"}], logprobs=True, stream=True
        )
    )
    tokens = [
        t.token
        for c in streamed
        if c.choices and c.choices[0].logprobs
        for t in c.choices[0].logprobs.content or ()
    ]
    assert tokens == ["Hi", " there"]


def test_anthropic_clients_get_the_native_call_as_tool_use(gateway: Service, upstream: Service) -> None:
    client = anthropic.Anthropic(base_url=gateway.url, api_key="k", max_retries=0)
    reply = client.messages.create(
        model="qwen-plus",
        max_tokens=200,
        extra_body={"top_k": 5},  # this SDK version has no top_k argument; the API has the field
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[
            {
                "name": "get_weather",
                "description": "Weather by city",
                "input_schema": WEATHER["function"]["parameters"],
            }
        ],
    )
    body = _last_body(upstream)
    assert body["top_k"] == 5 and body["tools"][0]["function"]["name"] == "get_weather"
    assert reply.stop_reason == "tool_use"
    blocks = [b for b in reply.content if b.type == "tool_use"]
    assert len(blocks) == 1 and blocks[0].name == "get_weather" and blocks[0].input == {"city": "Paris"}


def test_count_tokens_is_qwens_tokenizer_plus_the_template(gateway: Service) -> None:
    client = anthropic.Anthropic(base_url=gateway.url, api_key="k", max_retries=0)
    text = "通义千问 counts tokens with its own vocabulary, 你好世界!"
    counted = client.messages.count_tokens(model="qwen-plus", messages=[{"role": "user", "content": text}])
    assert counted.input_tokens == count_tokens(text) + MESSAGE_OVERHEAD + REPLY_OVERHEAD


# ---- these depend on gateway.py honouring `Provider.native_tools` (issue 9, being changed in parallel) ----


def test_no_tool_prompt_goes_to_a_native_upstream(client: openai.OpenAI, upstream: Service) -> None:
    """Depends on the gateway: with `native_tools` it adds no Nous/Hermes `<tools>` system prompt."""
    _ask(client, stream=False)
    messages = _last_body(upstream)["messages"]
    assert messages == [{"role": "user", "content": "Weather in Paris?"}]


def test_response_format_goes_natively_without_a_prompt(client: openai.OpenAI, upstream: Service) -> None:
    """Depends on the gateway: with `native_tools` it adds no JSON instruction to the system prompt."""
    reply = client.chat.completions.create(
        model="qwen-plus",
        messages=[{"role": "user", "content": "a JSON object please"}],
        response_format={"type": "json_object"},
    )
    body = _last_body(upstream)
    assert body["response_format"] == {"type": "json_object"}
    assert body["messages"] == [{"role": "user", "content": "a JSON object please"}]
    assert json.loads(reply.choices[0].message.content or "") == {"ok": True}


def test_search_mode_turns_on_dashscope_search(client: openai.OpenAI, upstream: Service, kind: str) -> None:
    client.chat.completions.create(
        model="qwen-plus", messages=[{"role": "user", "content": "news"}], web_search_options={}
    )
    assert _last_body(upstream).get("enable_search") is (True if kind == "dashscope" else None)
    client.chat.completions.create(model="qwen-plus", messages=[{"role": "user", "content": "no search"}])
    assert "enable_search" not in _last_body(upstream)


def test_responses_api_over_a_native_upstream(client: openai.OpenAI, upstream: Service) -> None:
    with client.responses.stream(
        model="qwen-plus", input="hello", tools=[{"type": "function", **WEATHER["function"]}]
    ) as stream:
        final = stream.get_final_response()
    body = _last_body(upstream)
    assert body["messages"] == [{"role": "user", "content": "hello"}]
    assert body["tools"] == [WEATHER]
    assert final.status == "completed"
    call = final.output[-1]
    assert call.type == "function_call" and call.name == "get_weather" and call.call_id == "call_fake_1"
