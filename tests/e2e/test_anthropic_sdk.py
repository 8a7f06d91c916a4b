"""Anthropic Messages through the official anthropic SDK and raw HTTP, against gateway and emulator processes.

The gateway here pings after 1 s of upstream silence (ANTHROPIC_PING_INTERVAL=1) so the keep-alive is
observable in seconds. Every stream is also read raw and run through the grammar checker.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest
from anthropic.types import MessageParam, ThinkingConfigParam, ToolParam

from qwen_server.api.anthropic.signature import sign_thinking
from tests.anthropic_grammar import CheckedStream, check_stream
from tests.processes import Service, directive, emulator_accounts, start_gateway

OPUS = "claude-opus-4-1"  # → qwen3-max, which thinks when asked
THINKING: ThinkingConfigParam = {"type": "enabled", "budget_tokens": 1024}


@pytest.fixture(scope="module")
def anthropic_gateway(emulator: Service) -> Iterator[Service]:
    service = start_gateway({"ANTHROPIC_PING_INTERVAL": "1"}, accounts=emulator_accounts(emulator, 3))
    yield service
    service.stop()


@pytest.fixture
def client(anthropic_gateway: Service) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=anthropic_gateway.url, api_key="any-key", max_retries=0)


def raw(gateway: Service, **body: Any) -> httpx.Response:
    body = {"model": OPUS, "max_tokens": 1024, **body}
    return httpx.post(
        f"{gateway.url}/v1/messages",
        json=body,
        headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
        timeout=60,
    )


def raw_stream(gateway: Service, **body: Any) -> CheckedStream:
    response = raw(gateway, stream=True, **body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["request-id"].startswith("req_")
    return check_stream(response.content)


def user(text: str) -> list[MessageParam]:
    return [{"role": "user", "content": text}]


def test_create_returns_anthropics_message_shape(
    anthropic_gateway: Service, client: anthropic.Anthropic
) -> None:
    message = client.messages.create(model=OPUS, max_tokens=256, messages=user("hello from the sdk"))
    assert message.type == "message" and message.role == "assistant"
    assert message.id.startswith("msg_")
    assert message.model == OPUS
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "hello from the sdk"  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0

    body = raw(anthropic_gateway, messages=user("exact shape")).json()
    assert set(body) == {"id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"}
    assert body["content"] == [{"type": "text", "text": "exact shape"}]
    assert set(body["usage"]) == {
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    }
    assert body["usage"]["cache_creation_input_tokens"] == body["usage"]["cache_read_input_tokens"] == 0


def test_stream_text_through_the_sdk_and_raw(anthropic_gateway: Service, client: anthropic.Anthropic) -> None:
    with client.messages.stream(model=OPUS, max_tokens=256, messages=user("one two three four")) as stream:
        pieces = list(stream.text_stream)
        message = stream.get_final_message()
    assert "".join(pieces) == "one two three four" and len(pieces) >= 4
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens > 0

    result = raw_stream(anthropic_gateway, messages=user("alpha beta gamma"))
    assert result.text == "alpha beta gamma"
    assert [b["type"] for b in result.blocks] == ["text"]
    assert result.stop_reason == "end_turn"
    assert result.usage["output_tokens"] > 0


@pytest.mark.parametrize(
    "model", ["claude-sonnet-4-5-20250929", "claude-3-5-haiku-latest", "claude-opus-4-1"]
)
def test_claude_names_are_served_and_echoed(anthropic_gateway: Service, model: str) -> None:
    response = raw(anthropic_gateway, model=model, messages=user(f"hi {model}"))
    assert response.status_code == 200, response.text
    assert response.json()["model"] == model
    assert response.json()["content"][0]["text"] == f"hi {model}"


def test_thinking_streams_as_thinking_blocks_with_signatures(
    anthropic_gateway: Service, client: anthropic.Anthropic
) -> None:
    prompt = "think first " + directive(reply="forty-two", thinking="deep careful thoughts")
    with client.messages.stream(
        model=OPUS,
        max_tokens=4096,
        thinking=THINKING,
        messages=user(prompt),
    ) as stream:
        kinds = [event.type for event in stream]
        message = stream.get_final_message()
    assert "thinking" in kinds and "signature" in kinds
    thinking, text = message.content
    assert thinking.type == "thinking" and thinking.thinking == "deep careful thoughts"
    assert thinking.signature == sign_thinking("deep careful thoughts")
    assert text.type == "text" and text.text == "forty-two"

    result = raw_stream(anthropic_gateway, max_tokens=4096, thinking=THINKING, messages=user(prompt))
    assert [b["type"] for b in result.blocks] == ["thinking", "text"]
    assert result.thinking == "deep careful thoughts" and result.blocks[0]["signature"]


def test_thinking_non_stream_and_history_with_thinking_blocks(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model=OPUS,
        max_tokens=4096,
        thinking=THINKING,
        messages=[
            {"role": "user", "content": "first question"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "earlier thoughts", "signature": sign_thinking("x")},
                    {"type": "redacted_thinking", "data": "opaque"},
                    {"type": "text", "text": "first answer"},
                ],
            },
            {"role": "user", "content": directive(reply="second answer", thinking="more thoughts")},
        ],
    )
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == "more thoughts"  # type: ignore[union-attr]
    assert message.content[1].text == "second answer"  # type: ignore[union-attr]


def test_no_thinking_block_unless_asked(anthropic_gateway: Service, client: anthropic.Anthropic) -> None:
    prompt = directive(reply="plain", thinking="hidden")
    message = client.messages.create(model=OPUS, max_tokens=256, messages=user(prompt))
    assert [b.type for b in message.content] == ["text"]
    disabled = raw_stream(anthropic_gateway, thinking={"type": "disabled"}, messages=user(prompt))
    assert [b["type"] for b in disabled.blocks] == ["text"] and disabled.text == "plain"


def test_system_blocks_images_and_documents_are_accepted(client: anthropic.Anthropic) -> None:
    raw = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
    png = base64.b64encode(raw).decode()
    message = client.messages.create(
        model="qwen3-vl-plus",  # a vision model (the emulator's qwen3-max takes no images)
        max_tokens=256,
        system=[{"type": "text", "text": "You are terse."}, {"type": "text", "text": "Answer in English."}],
        metadata={"user_id": "user-123"},
        extra_body={"temperature": 0.2, "top_p": 0.9, "top_k": 20},  # this SDK release no longer names them
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
                    {
                        "type": "document",
                        "source": {"type": "text", "media_type": "text/plain", "data": "doc text"},
                    },
                    {"type": "text", "text": " and the question"},
                ],
            }
        ],
        extra_headers={"anthropic-beta": "interleaved-thinking-2025-05-14,some-future-beta"},
    )
    # blocks are joined with a newline unless white space already separates them; the image went up as a file
    # (the emulator's answer names it with the digest of the bytes it received)
    digest = hashlib.sha256(raw).hexdigest()
    assert message.content[0].text == (  # type: ignore[union-attr]
        f"[image: image.png]\ndoc text and the question\n[file image.png image/png {len(raw)} bytes sha256={digest}]"
    )


def test_stop_sequences_stop_the_answer(anthropic_gateway: Service, client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model=OPUS,
        max_tokens=256,
        stop_sequences=["END", "NEVER"],
        messages=user(directive(chunks=["alpha be", "ta END gam", "ma"])),
    )
    assert message.content[0].text == "alpha beta "  # type: ignore[union-attr]
    assert message.stop_reason == "stop_sequence" and message.stop_sequence == "END"

    result = raw_stream(
        anthropic_gateway,
        stop_sequences=["END"],
        messages=user(directive(chunks=["alpha be", "ta EN", "D gamma"])),
    )
    assert result.text == "alpha beta "
    assert (result.stop_reason, result.stop_sequence) == ("stop_sequence", "END")


def test_max_tokens_cuts_the_answer(anthropic_gateway: Service, client: anthropic.Anthropic) -> None:
    long_reply = " ".join(f"word{i}" for i in range(200))
    message = client.messages.create(model=OPUS, max_tokens=10, messages=user(directive(reply=long_reply)))
    text = message.content[0].text  # type: ignore[union-attr]
    assert message.stop_reason == "max_tokens" and message.stop_sequence is None
    assert 0 < len(text) < len(long_reply) and long_reply.startswith(text)

    result = raw_stream(anthropic_gateway, max_tokens=10, messages=user(directive(reply=long_reply)))
    assert result.stop_reason == "max_tokens"
    assert long_reply.startswith(result.text) and len(result.text) < len(long_reply)


def test_upstream_silence_is_filled_with_pings(anthropic_gateway: Service) -> None:
    result = raw_stream(anthropic_gateway, messages=user(directive(reply="after the silence", silence=4.5)))
    assert result.text == "after the silence"
    # the stream opens after one silent second (message_start and its ping), then pings once a second: about
    # four in 4.5 s; two even if the busy machine delays the gateway's timers by seconds
    assert result.pings_before_first_block >= 2

    result = raw_stream(
        anthropic_gateway, messages=user(directive(chunks=["a ", "b ", "c"], silence_mid=4.5))
    )
    assert result.text == "a b c"
    assert result.pings - result.pings_before_first_block >= 2


def test_sdk_stream_survives_pings(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model=OPUS, max_tokens=256, messages=user(directive(reply="patient answer", silence=1.5))
    ) as stream:
        assert stream.get_final_text() == "patient answer"


def test_count_tokens_with_the_sdk(client: anthropic.Anthropic) -> None:
    messages = user("The quick brown fox jumps over the lazy dog. " * 10)
    counted = client.messages.count_tokens(model=OPUS, messages=messages)
    assert 100 <= counted.input_tokens <= 150
    tool: ToolParam = {"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}}
    with_more = client.messages.count_tokens(
        model=OPUS,
        system="You are a weather bot.",
        messages=messages,
        tools=[tool],
    )
    assert with_more.input_tokens > counted.input_tokens


def test_models_list_with_the_sdk(client: anthropic.Anthropic) -> None:
    page = client.models.list()
    ids = [m.id for m in page.data]
    assert "qwen3-max" in ids
    assert all(m.type == "model" for m in page.data)


def test_content_filter_is_a_refusal(anthropic_gateway: Service, client: anthropic.Anthropic) -> None:
    prompt = directive(reply="one two three four five six", error="content_filter")
    result = raw_stream(anthropic_gateway, messages=[{"role": "user", "content": prompt}])
    assert result.stop_reason == "refusal"
    assert result.text and "one two three four five six".startswith(result.text)
    message = client.messages.create(
        model=OPUS, max_tokens=64, messages=[{"role": "user", "content": prompt}]
    )
    assert message.stop_reason == "refusal"
