"""Anthropic structured output (`output_config.format`, the beta `output_format`) through the anthropic SDK:
the same JSON contract as OpenAI's `response_format` (instruction, fence stripped, schema checked, one
repair retry), against gateway and emulator processes."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx
import pytest
from pydantic import BaseModel

from tests.processes import Service, directive

MODEL = "claude-sonnet-4-6"
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["city", "population"],
    "additionalProperties": False,
}
FORMAT = {"type": "json_schema", "schema": SCHEMA}
Push = Callable[..., None]


class City(BaseModel):
    city: str
    population: int


@pytest.fixture
def client(gateway: Service) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key="k", max_retries=0)


@pytest.fixture
def script_queue(emulator: Service) -> Iterator[Push]:
    def push(*replies: dict[str, object]) -> None:
        httpx.post(
            f"{emulator.url}/_emulator/script", json={"account": None, "replies": list(replies)}, timeout=5
        ).raise_for_status()

    yield push
    httpx.post(f"{emulator.url}/_emulator/reset", json={"all": True}, timeout=30).raise_for_status()


def _pending(emulator: Service) -> int:
    stats: dict[str, Any] = httpx.get(f"{emulator.url}/_emulator/stats", timeout=30).json()
    return int(stats["scripts_pending"])


def test_output_config_format_strips_a_fence(client: anthropic.Anthropic) -> None:
    reply = '```json\n{"city": "Lyon", "population": 522250}\n```'
    message = client.messages.create(
        model=MODEL,
        max_tokens=256,
        output_config={"format": FORMAT},  # type: ignore[typeddict-item]
        messages=[{"role": "user", "content": "Biggest city near Geneva? " + directive(reply=reply)}],
    )
    assert message.stop_reason == "end_turn"
    (block,) = message.content
    assert block.type == "text" and json.loads(block.text) == {"city": "Lyon", "population": 522250}


def test_parse_with_a_pydantic_model(client: anthropic.Anthropic) -> None:
    reply = '{"city": "Bern", "population": 134591}'
    message = client.messages.parse(
        model=MODEL,
        max_tokens=256,
        output_format=City,
        messages=[{"role": "user", "content": "Swiss capital? " + directive(reply=reply)}],
    )
    assert message.parsed_output == City(city="Bern", population=134591)


def test_invalid_json_is_repaired_once(
    client: anthropic.Anthropic, script_queue: Push, emulator: Service
) -> None:
    script_queue({"reply": "Sure! The city is Basel."}, {"reply": '{"city": "Basel", "population": 173863}'})
    message = client.messages.create(
        model=MODEL,
        max_tokens=256,
        output_config={"format": FORMAT},  # type: ignore[typeddict-item]
        messages=[{"role": "user", "content": "Third Swiss city?"}],
    )
    assert json.loads(message.content[0].text) == {"city": "Basel", "population": 173863}  # type: ignore[union-attr]
    assert _pending(emulator) == 0, "one first answer and one repair answer were asked for"
    assert message.usage.output_tokens > 0


def test_beta_output_format_streams_the_checked_json(
    client: anthropic.Anthropic, script_queue: Push, emulator: Service
) -> None:
    script_queue(
        {"reply": '{"city": "Zurich", "population": "many"}'},
        {"reply": '{"city": "Zurich", "population": 421878}'},
    )
    with client.messages.stream(
        model=MODEL,
        max_tokens=256,
        messages=[{"role": "user", "content": "Largest Swiss city?"}],
        extra_body={"output_format": FORMAT},
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert json.loads(text) == {"city": "Zurich", "population": 421878}
    assert final.stop_reason == "end_turn"
    assert _pending(emulator) == 0


def test_a_format_given_twice_is_refused(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(
            model=MODEL,
            max_tokens=64,
            output_config={"format": FORMAT},  # type: ignore[typeddict-item]
            messages=[{"role": "user", "content": "x"}],
            extra_body={"output_format": FORMAT},
        )
    assert "output_format" in str(info.value.body)


def test_an_unknown_format_type_is_refused(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(
            model=MODEL,
            max_tokens=64,
            messages=[{"role": "user", "content": "x"}],
            extra_body={"output_format": {"type": "xml", "schema": {}}},
        )
    assert "output_format" in str(info.value.body)


def test_json_broken_twice_is_an_error(client: anthropic.Anthropic, script_queue: Push) -> None:
    script_queue({"reply": "Basel, I think."}, {"reply": '{"city": "Basel"}'})
    with pytest.raises(anthropic.APIStatusError) as caught:
        client.messages.parse(
            model=MODEL,
            max_tokens=256,
            output_format=City,
            messages=[{"role": "user", "content": "Third Swiss city?"}],
        )
    assert caught.value.status_code == 502
    body = caught.value.body
    assert isinstance(body, dict) and body["error"]["type"] == "api_error"
    assert "population" in body["error"]["message"], "the error says what was wrong"
