"""The batches function's Lambda handler, invoked with synthetic events in a Lambda-like process: HTTP API
events create and read batches through Mangum, and the schedule's `{"batches_tick": true}` runs the worker.

The create's immediate kick invokes the function itself through the Lambda API; here that API is moto's, which
knows no such function, so the kick fails softly and the scheduled tick does the work, as it would on AWS."""

from __future__ import annotations

import base64
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import Service, emulator_accounts, start_emulator
from tests.serverless.serverless_support import (
    body_json,
    http_api_event,
    invoke,
    lambda_env,
    start_moto,
    stop,
)

PARAMS = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "hi lambda"}],
}
ANTHROPIC = {"anthropic-version": "2023-06-01", "content-type": "application/json", "x-api-key": "k"}


@pytest.fixture(scope="module")
def emulator() -> Iterator[Service]:
    service = start_emulator("--seed", "7", accounts=2)
    yield service
    service.stop()


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    endpoint, process = start_moto()
    yield endpoint
    stop(process)


def test_http_events_and_the_scheduled_tick(emulator: Service, moto_endpoint: str) -> None:
    data = Path(tempfile.mkdtemp(prefix="batches-fn-"))
    env = lambda_env(
        "qwen-batches",
        STORE_URL=f"sqlite:///{data / 'state.db'}",
        DATA_DIR=str(data),
        QWEN_ACCOUNTS=json.dumps(emulator_accounts(emulator, 2)),
        AWS_ENDPOINT_URL_LAMBDA=moto_endpoint,
    )
    requests = [{"custom_id": f"r{i}", "params": PARAMS} for i in range(3)]
    created = invoke(
        "batches",
        [
            http_api_event(
                "POST", "/v1/messages/batches", body=json.dumps({"requests": requests}), headers=ANTHROPIC
            )
        ],
        env,
    )
    (response,) = created["responses"]
    assert response["statusCode"] == 200, response
    batch = body_json(response)
    assert batch["processing_status"] == "in_progress"
    output = created["stdout"] + created["stderr"]
    assert any("could not start the batch worker at once (ResourceNotFoundException)" in x for x in output)

    path = f"/v1/messages/batches/{batch['id']}"
    later = invoke(
        "batches",
        [
            {"batches_tick": True},
            http_api_event("GET", path, "/v1/messages/batches/{batch_id}", headers=ANTHROPIC),
            http_api_event(
                "GET", path + "/results", "/v1/messages/batches/{batch_id}/results", headers=ANTHROPIC
            ),
        ],
        env,
    )
    tick, retrieved, results = later["responses"]
    assert tick == {"batches_tick": {"batches": 1, "lines": 3, "finalized": 1}}
    ended = body_json(retrieved)
    assert ended["processing_status"] == "ended" and ended["request_counts"]["succeeded"] == 3
    raw = base64.b64decode(results["body"]) if results.get("isBase64Encoded") else results["body"].encode()
    lines = [json.loads(x) for x in raw.splitlines()]
    assert [x["custom_id"] for x in lines] == ["r0", "r1", "r2"]
    assert all(x["result"]["message"]["content"][0]["text"] == "hi lambda" for x in lines)
