"""Uploaded files used as message content (the Files API as the media pipeline's file source), through both
SDKs against the gateway process and a native OpenAI-compatible upstream that records what it received
(tests/fake_openai_upstream.py, its own process)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.processes import Service, start_gateway, start_recording_openai

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@pytest.fixture(scope="module")
def upstream() -> Iterator[Service]:
    service = start_recording_openai()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def gateway(upstream: Service) -> Iterator[Service]:
    account = {
        "kind": "openai",
        "base_url": f"{upstream.url}/v1",
        "api_key": "sk-fake",
        "models": ["qwen3-vl-plus"],
    }
    service = start_gateway({"GATEWAY_API_KEYS": "key-a,key-b"}, accounts=[account])
    yield service
    service.stop()


def last_body(upstream: Service) -> dict[str, Any]:
    received = httpx.get(f"{upstream.url}/_fake/requests", timeout=30).json()
    assert received, "the upstream saw no request"
    body: dict[str, Any] = received[-1]
    return body


def test_anthropic_files_in_image_and_document_blocks_reach_the_upstream(
    gateway: Service, upstream: Service
) -> None:
    client = anthropic.Anthropic(base_url=gateway.url, api_key="key-a", max_retries=0)
    image = client.beta.files.upload(file=("dot.png", PNG, "image/png"))
    notes = client.beta.files.upload(file=("notes.txt", b"The launch code is 7-4-1.", "text/plain"))
    message = client.beta.messages.create(
        model="qwen3-vl-plus",
        max_tokens=64,
        betas=["files-api-2025-04-14"],
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "file", "file_id": image.id}},
                    {"type": "document", "source": {"type": "file", "file_id": notes.id}},
                    {"type": "text", "text": "describe both"},
                ],
            }
        ],
    )
    assert message.content[0].type == "text"
    content = last_body(upstream)["messages"][-1]["content"]
    assert content[0] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64," + base64.b64encode(PNG).decode()},
    }
    assert content[1] == {"type": "text", "text": "The launch code is 7-4-1."}

    other = anthropic.Anthropic(base_url=gateway.url, api_key="key-b", max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as refused:  # another key's file is unknown to it
        other.messages.create(
            model="qwen3-vl-plus",
            max_tokens=64,
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "image", "source": {"type": "file", "file_id": image.id}}],
                }
            ],  # type: ignore[typeddict-item]
        )
    assert refused.value.body["type"] == "error"  # type: ignore[index]
    assert refused.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert image.id in refused.value.body["error"]["message"]  # type: ignore[index]


def test_openai_file_parts_are_vision_input_and_text(gateway: Service, upstream: Service) -> None:
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="key-a", max_retries=0)
    image = client.files.create(file=("dot.png", PNG, "image/png"), purpose="vision")
    text = client.files.create(file=("spec.txt", b"spec body", "text/plain"), purpose="user_data")
    client.chat.completions.create(
        model="qwen3-vl-plus",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "file", "file": {"file_id": image.id}},
                    {"type": "file", "file": {"file_id": text.id}},
                    {"type": "text", "text": "what is in them?"},
                ],
            }
        ],
    )
    content = last_body(upstream)["messages"][-1]["content"]
    assert content[0]["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert content[1] == {"type": "text", "text": "spec body"}

    other = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="key-b", max_retries=0)
    with pytest.raises(openai.BadRequestError) as refused:  # another key's file is unknown to it
        other.chat.completions.create(
            model="qwen3-vl-plus",
            messages=[{"role": "user", "content": [{"type": "file", "file": {"file_id": image.id}}]}],
        )
    assert refused.value.body["code"] == "file_not_found"  # type: ignore[index]
