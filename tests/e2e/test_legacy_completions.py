"""The legacy `/v1/completions` through the openai SDK, against the gateway and the emulator as processes."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.processes import Service


def test_non_stream_completion(client: openai.OpenAI) -> None:
    completion = client.completions.create(model="qwen3-max", prompt="complete this line")
    assert completion.object == "text_completion"
    assert completion.id.startswith("cmpl-")
    assert completion.choices[0].text == "complete this line"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens > 0


def test_stream_completion_with_usage(client: openai.OpenAI) -> None:
    chunks = list(
        client.completions.create(
            model="qwen3-max",
            prompt="one two three four",
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == "one two three four"
    assert sum(1 for c in chunks if c.choices and c.choices[0].text) >= 4
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None


def test_echo_and_max_tokens(client: openai.OpenAI) -> None:
    completion = client.completions.create(model="qwen3-max", prompt="say it", echo=True)
    assert completion.choices[0].text == "say itsay it"
    cut = client.completions.create(model="qwen3-max", prompt="word " * 100, max_tokens=5)
    assert cut.choices[0].finish_reason == "length"
    assert len(cut.choices[0].text.split()) <= 5


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"prompt": ["a", "b"]}, "prompt"),
        ({"prompt": [1, 2, 3]}, "prompt"),
        ({"prompt": "a", "n": 2}, "n"),
    ],
)
def test_unsupported_shapes_are_a_400(gateway: Service, body: dict[str, object], param: str) -> None:
    response = httpx.post(f"{gateway.url}/v1/completions", json={"model": "qwen3-max", **body}, timeout=30)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
