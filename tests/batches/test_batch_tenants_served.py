"""Batches of several tenants on the gateway process (its own batch worker, SQLite and Redis, the emulator a
process), through the openai SDK: a small batch of one tenant finishes while another tenant's large batch is
still running (it joins the worker's pass in progress and gets every other line), and batch lines count against
`RATE_LIMIT_RPM` and show in `/admin/usage`; a cancel that comes while a batch is `validating` wins.

Nothing here decides a result by a duration: each step waits (bounded) for a state, and the order of events is
what is asserted.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from openai.types import Batch

from qwen_server.core.tenants import tenant_id
from tests.batches.helpers import chat_line, jsonl, wait_for
from tests.processes import Service, emulator_accounts, start_gateway
from tests.services import redis_binary, redis_service

ADMIN = {"authorization": "Bearer admin-key"}


@pytest.fixture(scope="module", params=["sqlite", "redis"])
def gateway(
    request: pytest.FixtureRequest, emulator: Service, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    env = {
        "GATEWAY_API_KEYS": "alpha,beta,tight",
        "ADMIN_API_KEYS": "admin-key",
        "RATE_LIMIT_RPM": "2",  # for `tight`; the other two keys have the limit lifted
        "RATE_LIMITS": json.dumps({"alpha": {"rpm": 0}, "beta": {"rpm": 0}}),
        "SCHED_BATCH_CONCURRENT": "1",
        "BATCH_CHUNK_LINES": "10",
    }
    if request.param == "sqlite":
        env["STORE_URL"] = f"sqlite:///{tmp_path_factory.mktemp('state') / 'state.db'}"
        service = start_gateway(env, accounts=emulator_accounts(emulator, 3))
        yield service
        service.stop()
        return
    if redis_binary() is None:
        pytest.skip("redis-server is not installed")
    with redis_service() as url:
        service = start_gateway({**env, "STORE_URL": url}, accounts=emulator_accounts(emulator, 3))
        yield service
        service.stop()


def _client(gateway: Service, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0)


def _submit(client: openai.OpenAI, prefix: str, n: int) -> str:
    source = client.files.create(
        file=(f"{prefix}.jsonl", jsonl([chat_line(f"{prefix}{i}", f"{prefix} line {i}") for i in range(n)])),
        purpose="batch",
    )
    return client.batches.create(
        input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h"
    ).id


def test_a_small_batch_finishes_while_a_large_one_of_another_tenant_runs(gateway: Service) -> None:
    a, b = _client(gateway, "alpha"), _client(gateway, "beta")
    large = _submit(a, "a", 300)
    wait_for(lambda: a.batches.retrieve(large), lambda x: bool(x.request_counts and x.request_counts.completed))
    small = _submit(b, "b", 2)  # the worker is in the middle of the large batch's pass now

    done = wait_for(lambda: b.batches.retrieve(small), lambda x: x.status == "completed")
    assert done.request_counts and done.request_counts.completed == 2
    running = a.batches.retrieve(large)
    assert running.status == "in_progress"
    assert running.request_counts and running.request_counts.completed < 300
    answers = [json.loads(x) for x in b.files.content(done.output_file_id or "").text.splitlines()]
    assert sorted(o["response"]["body"]["choices"][0]["message"]["content"] for o in answers) == [
        "b line 0",
        "b line 1",
    ]
    a.batches.cancel(large)  # the rest of it is not this test's business
    wait_for(lambda: a.batches.retrieve(large), lambda x: x.status == "cancelled")


@pytest.fixture
def inside_one_window() -> None:
    """Rate-limit counts live in one-minute windows aligned to the wall clock: start well inside one, so the
    few lines here never straddle a turn (a wait of at most 15 s, not a timing assertion)."""
    into = time.time() % 60
    if into > 45:
        time.sleep(60 - into + 0.5)


def _usage(gateway: Service) -> dict[str, dict[str, int]]:
    rows = httpx.get(f"{gateway.url}/admin/usage", headers=ADMIN, timeout=30).raise_for_status().json()["data"]
    totals: dict[str, dict[str, int]] = {}
    for row in rows:
        mine = totals.setdefault(row["tenant"], {"requests": 0, "input_tokens": 0, "output_tokens": 0})
        for field in mine:
            mine[field] += row[field]
    return totals


def test_batch_lines_count_against_the_rate_limit_and_in_usage(gateway: Service, inside_one_window: None) -> None:
    tight, other = _client(gateway, "tight"), _client(gateway, "beta")
    before = _usage(gateway)
    held = _submit(tight, "t", 4)
    free = _submit(other, "f", 3)  # queued after it, and not held up by it

    wait_for(lambda: other.batches.retrieve(free), lambda x: x.status == "completed")
    waiting = wait_for(
        lambda: tight.batches.retrieve(held), lambda x: x.request_counts is not None and x.request_counts.completed >= 2
    )
    assert waiting.status == "in_progress"
    assert waiting.request_counts and waiting.request_counts.completed == 2  # 2 a minute: the rest waits
    with pytest.raises(openai.RateLimitError):  # the lines used the tenant's budget for live traffic too
        tight.chat.completions.create(model="qwen3-max", messages=[{"role": "user", "content": "live"}])

    def grew(now: dict[str, dict[str, int]], key: str) -> dict[str, int]:
        was = before.get(tenant_id(key), {"requests": 0, "input_tokens": 0, "output_tokens": 0})
        return {field: now.get(tenant_id(key), {}).get(field, 0) - was[field] for field in was}

    after = wait_for(lambda: _usage(gateway), lambda now: grew(now, "beta")["requests"] == 3)
    assert grew(after, "tight")["requests"] == 2
    assert grew(after, "tight")["output_tokens"] > 0 and grew(after, "beta")["input_tokens"] > 0
    tight.batches.cancel(held)
    ended = wait_for(lambda: tight.batches.retrieve(held), lambda x: x.status == "cancelled")
    assert ended.request_counts and ended.request_counts.completed == 2


def test_a_cancel_while_the_batch_is_validating_wins(gateway: Service) -> None:
    """The input file's bytes are replaced by a named pipe, so validation waits until the test writes them: the
    cancel comes while the batch is `validating`, and the end of validation must not overwrite it."""
    client = _client(gateway, "alpha")
    content = jsonl([chat_line(f"v{i}", "validate me") for i in range(3)])
    source = client.files.create(file=("v.jsonl", content), purpose="batch")
    [blob] = (Path(gateway.extra["cwd"]) / "data" / "blobs" / "files").glob(f"*/{source.id}")
    blob.unlink()
    os.mkfifo(blob)
    created: list[Batch] = []
    creating = threading.Thread(
        target=lambda: created.append(
            client.batches.create(input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h")
        )
    )
    creating.start()
    try:
        [validating] = wait_for(
            lambda: [b for b in client.batches.list() if b.input_file_id == source.id],
            lambda found: bool(found) and found[0].status == "validating",
        )
        assert client.batches.cancel(validating.id).status == "cancelling"
    finally:  # validation reads the lines now (a daemon thread: the test never hangs on a pipe nobody reads)
        threading.Thread(target=blob.write_bytes, args=(content,), daemon=True).start()
        creating.join(60)
    assert [b.status for b in created] == ["cancelling"]  # not in_progress: the cancel stands
    ended = wait_for(lambda: client.batches.retrieve(validating.id), lambda b: b.status == "cancelled")
    assert ended.request_counts and ended.request_counts.completed == 0 and ended.request_counts.total == 3
