"""Batch lines yield to interactive traffic: while the chat class is full (or has a queue) the worker starts
no line; once it is free the lines run and the batch ends. The worker runs in this process on each store
backend (memory, SQLite, Redis, DynamoDB on moto's server), with the emulator process as upstream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from qwen_server.app.runtime import Runtime, build_runtime
from qwen_server.batches import records
from qwen_server.batches.create import create_anthropic
from qwen_server.batches.worker import interactive_busy, tick
from qwen_server.config import Settings
from tests.processes import Service, emulator_accounts
from tests.services import moto_service, redis_binary, redis_service

PARAMS = {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "queued"}]}


@pytest.fixture(params=["memory", "sqlite", "redis", "dynamodb"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "memory":
        yield "memory://"
    elif request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
    elif request.param == "redis":
        if redis_binary() is None:
            pytest.skip("redis-server is not installed")
        with redis_service() as url:
            yield url
    else:
        with moto_service() as endpoint:
            yield f"dynamodb://batches?region=us-east-1&endpoint_url={endpoint}&create=1&timeout=15"


@pytest.fixture
async def runtime(
    emulator: Service, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Runtime]:
    for name, value in {
        "STORE_URL": store_url,
        "DATA_DIR": str(tmp_path / "data"),
        "QWEN_ACCOUNTS": json.dumps(emulator_accounts(emulator, 2)),
        "SCHED_CHAT_CONCURRENT": "1",
        "BATCH_CHUNK_LINES": "2",
    }.items():
        monkeypatch.setenv(name, value)
    built = build_runtime(Settings())  # from the environment above, as an entry point builds it
    await built.store.ping()  # as `serve` does at start-up (creates the moto table)
    yield built
    await built.gateway.scheduler.aclose()  # type: ignore[attr-defined]
    await built.store.close()
    await built.clients.aclose()


async def test_no_line_starts_while_the_chat_class_is_full_or_queued(runtime: Runtime) -> None:
    requests = [{"custom_id": f"y{i}", "params": PARAMS} for i in range(3)]
    work = await runtime.batches()
    batch = await create_anthropic(work.files, "tenant-y", requests, 2)
    scheduler = runtime.gateway.scheduler
    assert not await interactive_busy(work)

    async with scheduler.admit("chat", "interactive"):  # the one chat slot is taken by live traffic
        assert await interactive_busy(work)
        passed = await tick(work, seconds=1.0)
        assert passed["lines"] == 0 and passed["finalized"] == 0
        waiting = asyncio.create_task(_admit_and_leave(runtime))  # someone queues behind it
        for _ in range(1000):  # until its ticket is in the store's queue
            if (await scheduler.snapshot())["chat"]["queued"]:
                break
            await asyncio.sleep(0.01)
        assert (await scheduler.snapshot())["chat"]["in_flight"] == 1
        assert await interactive_busy(work)
    await waiting
    answered = await runtime.store.get_many([records.line_key(batch.id, i) for i in range(3)])
    assert answered == [None, None, None]

    assert not await interactive_busy(work)
    passed = await tick(work, seconds=60.0)
    assert passed == {"batches": 1, "lines": 3, "finalized": 1}
    ended = await records.load(runtime.store, "tenant-y", batch.id)
    assert ended is not None and ended.status == "completed" and ended.counts["succeeded"] == 3


async def _admit_and_leave(runtime: Runtime) -> None:
    async with runtime.gateway.scheduler.admit("chat", "second"):
        pass


async def test_a_batch_left_finalizing_by_a_dead_worker_is_finished_by_the_next_tick(
    runtime: Runtime,
) -> None:
    """Every line answered and the record at `finalizing` (its finalizer died before writing the results):
    the next tick gathers the stored results, runs no line again, and ends the batch."""
    requests = [{"custom_id": f"f{i}", "params": PARAMS} for i in range(2)]
    work = await runtime.batches()
    batch = await create_anthropic(work.files, "tenant-f", requests, 2)
    for i in range(2):
        outcome = {"custom_id": f"f{i}", "ok": True, "status": 200, "body": {"stored": i}, "request_id": "r"}
        assert await runtime.store.set_if_absent(records.line_key(batch.id, i), json.dumps(outcome).encode())
    await runtime.store.set(records.chunk_done_key(batch.id, 0), b"1")

    def finalizing(record: records.BatchRecord) -> bool:
        record.status = "finalizing"
        return True

    await records.update(runtime.store, "tenant-f", batch.id, finalizing)
    passed = await tick(work, seconds=30.0)
    assert passed == {"batches": 1, "lines": 0, "finalized": 1}
    ended = await records.load(runtime.store, "tenant-f", batch.id)
    assert ended is not None and ended.status == "completed" and ended.results_key
    results = (await (await runtime.blobs()).store.read(ended.results_key)).splitlines()
    assert [json.loads(x)["result"]["message"] for x in results] == [{"stored": 0}, {"stored": 1}]
