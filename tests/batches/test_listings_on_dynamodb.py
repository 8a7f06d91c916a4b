"""Listings on DynamoDB (moto's server, the gateway a process) answer through the listing index, never a table
Scan: files and batches of both APIs with their paging, video jobs, usage, the pool's statistics, and the batch
worker's passes. moto's recorder logs every request the gateway sends; the test reads the operation names
(`X-Amz-Target`) from it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from tests.batches.helpers import chat_line, jsonl, wait_for
from tests.processes import Service, emulator_accounts, start_gateway
from tests.services import moto_env, moto_service

ADMIN = {"authorization": "Bearer admin-key"}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    log = tmp_path_factory.mktemp("moto") / "requests.jsonl"
    with moto_service(recording=log) as endpoint:
        yield endpoint, log


@pytest.fixture(scope="module")
def gateway(emulator: Service, recorded: tuple[str, Path]) -> Iterator[Service]:
    endpoint, _ = recorded
    table = f"t{uuid.uuid4().hex[:10]}"
    env = {
        "STORE_URL": f"dynamodb://{table}?region=us-east-1&endpoint_url={endpoint}&create=1",
        "GATEWAY_API_KEYS": "key-one,key-two",
        "ADMIN_API_KEYS": "admin-key",
        "BATCH_CHUNK_LINES": "2",
        **moto_env(),
    }
    service = start_gateway(env, accounts=emulator_accounts(emulator, 2))
    yield service
    service.stop()


def operations(endpoint: str, log: Path) -> list[str]:
    httpx.post(f"{endpoint}/moto-api/recorder/stop-recording", timeout=10).raise_for_status()
    names = []
    for line in log.read_text().splitlines():
        headers = {k.lower(): v for k, v in json.loads(line)["headers"].items()}
        target = headers.get("x-amz-target", "")
        if target.startswith("DynamoDB_"):
            names.append(target.partition(".")[2])
    return names


def test_listings_and_worker_passes_query_the_index(gateway: Service, recorded: tuple[str, Path]) -> None:
    endpoint, log = recorded
    httpx.post(f"{gateway.url}/v1/chat/completions", timeout=30)  # the runtime is built (it creates the table)
    httpx.post(f"{endpoint}/moto-api/recorder/start-recording", timeout=10).raise_for_status()

    one = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="key-one", max_retries=0)
    two = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="key-two", max_retries=0)
    made = [one.files.create(file=(f"f{i}.txt", b"x"), purpose="user_data") for i in range(3)]
    two.files.create(file=("other.txt", b"y"), purpose="user_data")
    first = one.files.list(limit=2)
    assert [f.id for f in first.data] == [made[2].id, made[1].id] and first.has_more
    assert [f.id for f in one.files.list(limit=2, after=made[1].id).data] == [made[0].id]
    one.files.delete(made[0].id)
    assert {f.id for f in one.files.list()} == {made[1].id, made[2].id}  # gone at once, not stale

    ant = anthropic.Anthropic(base_url=gateway.url, api_key="key-one", max_retries=0)
    uploaded = ant.beta.files.upload(file=("a.txt", b"anthropic", "text/plain"))
    assert [f.id for f in ant.beta.files.list()] == [uploaded.id]

    source = one.files.create(file=("in.jsonl", jsonl([chat_line(f"l{i}", "listed") for i in range(3)])), purpose="batch")
    batch = one.batches.create(input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h")
    params = {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    message_batch = ant.messages.batches.create(requests=[{"custom_id": "m", "params": params}])  # type: ignore[list-item]
    wait_for(lambda: one.batches.retrieve(batch.id), lambda b: b.status == "completed")
    wait_for(lambda: ant.messages.batches.retrieve(message_batch.id), lambda b: b.processing_status == "ended")
    assert [b.id for b in one.batches.list()] == [batch.id]
    assert [b.id for b in two.batches.list()] == []
    assert [b.id for b in ant.messages.batches.list()] == [message_batch.id]

    assert httpx.get(f"{gateway.url}/v1/videos", headers={"authorization": "Bearer key-one"}).json()["data"] == []
    usage = httpx.get(f"{gateway.url}/admin/usage", headers=ADMIN, timeout=10).json()["data"]
    assert sum(row["requests"] for row in usage) == 4  # the batch lines
    accounts = httpx.get(f"{gateway.url}/admin/accounts", headers=ADMIN, timeout=10).json()["data"]
    assert sum(row["successes"] for row in accounts) >= 4  # the pool's statistics, read by a listing

    sent = operations(endpoint, log)
    assert "Query" in sent and "BatchGetItem" in sent
    assert "Scan" not in sent, f"{sent.count('Scan')} Scan request(s) among {len(sent)}"
