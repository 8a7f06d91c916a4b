"""An OpenAI batch may name any batchable endpoint the gateway serves: legacy completions (web accounts on the
emulator) and embeddings (a DashScope account on the fake OpenAI-compatible upstream), through the openai SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.batches.helpers import jsonl, wait_for
from tests.processes import Service, emulator_accounts, start_fake_openai, start_gateway


@pytest.fixture(scope="module")
def upstream() -> Iterator[Service]:
    service = start_fake_openai("--models", "text-embedding-v4", "--embedding-rows", "10")
    yield service
    service.stop()


@pytest.fixture(scope="module")
def client(emulator: Service, upstream: Service) -> Iterator[openai.OpenAI]:
    dashscope = {"kind": "dashscope", "base_url": f"{upstream.url}/v1", "api_key": "sk-test", "name": "ds"}
    gateway = start_gateway({"BATCH_CHUNK_LINES": "2"}, accounts=[*emulator_accounts(emulator, 2), dashscope])
    yield openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
    gateway.stop()


def run_batch(client: openai.OpenAI, endpoint: str, lines: list[dict[str, Any]]) -> tuple[Any, list[Any]]:
    uploaded = client.files.create(file=("in.jsonl", jsonl(lines)), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint=endpoint, completion_window="24h")  # type: ignore[arg-type]
    done = wait_for(lambda: client.batches.retrieve(batch.id), lambda b: b.status in ("completed", "failed"))
    assert done.status == "completed", done
    assert done.output_file_id
    output = [json.loads(x) for x in client.files.content(done.output_file_id).text.splitlines()]
    return done, sorted(output, key=lambda o: o["custom_id"])


def test_a_batch_of_legacy_completions(client: openai.OpenAI) -> None:
    lines = [
        {"custom_id": f"c{i}", "method": "POST", "url": "/v1/completions", "body": body}
        for i, body in enumerate(
            [
                {"model": "qwen3-max", "prompt": "say one"},
                {"model": "qwen3-max", "prompt": "say two"},
                {"model": "qwen3-max", "prompt": "say three", "stream": True},
            ]
        )
    ]
    done, output = run_batch(client, "/v1/completions", lines)
    assert done.request_counts and (done.request_counts.completed, done.request_counts.failed) == (2, 1)
    assert [o["custom_id"] for o in output] == ["c0", "c1"]
    for line, prompt in zip(output, ["say one", "say two"], strict=True):
        body = line["response"]["body"]
        assert body["object"] == "text_completion" and prompt in body["choices"][0]["text"]


def test_a_batch_of_embeddings(client: openai.OpenAI) -> None:
    inputs = [["alpha", "beta"], "gamma", [f"row {n}" for n in range(13)]]
    lines = [
        {
            "custom_id": f"e{i}",
            "method": "POST",
            "url": "/v1/embeddings",
            "body": {"model": "text-embedding-3-small", "input": text, "encoding_format": "float"},
        }
        for i, text in enumerate(inputs)
    ]
    done, output = run_batch(client, "/v1/embeddings", lines)
    assert done.request_counts and done.request_counts.completed == 3
    direct = client.embeddings.create(model="text-embedding-3-small", input="gamma", encoding_format="float")
    counts = [len(o["response"]["body"]["data"]) for o in output]
    assert counts == [2, 1, 13]  # 13 rows were split into calls of 10 + 3 and reassembled
    assert output[1]["response"]["body"]["data"][0]["embedding"] == direct.data[0].embedding


def test_an_endpoint_the_gateway_does_not_batch_is_refused(client: openai.OpenAI) -> None:
    uploaded = client.files.create(file=("in.jsonl", b"{}\n"), purpose="batch")
    with pytest.raises(openai.BadRequestError) as info:
        client.batches.create(input_file_id=uploaded.id, endpoint="/v1/moderations", completion_window="24h")  # type: ignore[arg-type]
    assert "/v1/embeddings" in str(info.value) and info.value.status_code == 400
