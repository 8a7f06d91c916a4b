"""The batch worker shares itself round robin over tenants and over one tenant's batches, and charges lines
to their tenant's rate limits and usage (waiting, without stalling anyone else, while a window is full); a
cancel that comes while a batch is still validating wins over the end of validation.

The worker runs in this process on SQLite and Redis, with the emulator process as upstream. Progress is
counted in lines (`tick(max_lines=...)`) and time is the limiter's injected clock: nothing here reads the
wall clock to decide a result.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from qwen_server.app.ratelimit import BatchBudget, LimitTable, RateLimiter
from qwen_server.app.routes.batches import _start_cancel
from qwen_server.app.runtime import Runtime, build_runtime
from qwen_server.batches import records
from qwen_server.batches.create import create_anthropic, create_openai
from qwen_server.batches.services import BatchServices
from qwen_server.batches.worker import tick
from qwen_server.blob.base import BlobStore
from qwen_server.config import Settings
from qwen_server.core.tenants import tenant_id
from qwen_server.files.service import Files
from qwen_server.observability.usage import UsageLedger
from tests.processes import Service, emulator_accounts
from tests.services import redis_binary, redis_service

PARAMS = {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "fair"}]}


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    if redis_binary() is None:
        pytest.skip("redis-server is not installed")
    with redis_service() as url:
        yield url


@pytest.fixture
async def runtime(
    emulator: Service, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Runtime]:
    for name, value in {
        "STORE_URL": store_url,
        "DATA_DIR": str(tmp_path / "data"),
        "QWEN_ACCOUNTS": json.dumps(emulator_accounts(emulator, 3)),
        "SCHED_BATCH_CONCURRENT": "2",
    }.items():
        monkeypatch.setenv(name, value)
    built = build_runtime(Settings())
    await built.store.ping()
    yield built
    await built.gateway.scheduler.aclose()  # type: ignore[attr-defined]
    await built.store.close()
    await built.clients.aclose()


def _requests(prefix: str, n: int) -> list[dict[str, object]]:
    return [{"custom_id": f"{prefix}{i}", "params": PARAMS} for i in range(n)]


async def _answered(runtime: Runtime, batch: records.BatchRecord) -> int:
    found = await runtime.store.get_many([records.line_key(batch.id, i) for i in range(batch.total)])
    return sum(x is not None for x in found)


async def _status(runtime: Runtime, batch: records.BatchRecord) -> str:
    record = await records.load(runtime.store, batch.tenant, batch.id)
    assert record is not None
    return record.status


async def test_small_batches_finish_before_a_large_one_is_half_done(runtime: Runtime) -> None:
    """Tenant A queued 40 lines first (sorted first, too), then a 2-line batch of its own; tenant B queued 2
    lines. Within the first 20 lines the worker starts, both small batches have ended."""
    work = await runtime.batches()
    large = await create_anthropic(work.files, "tenant-a", _requests("a", 40), 4)
    small_a = await create_anthropic(work.files, "tenant-a", _requests("s", 2), 4)
    small_b = await create_anthropic(work.files, "tenant-b", _requests("b", 2), 4)

    passed = await tick(work, seconds=300.0, max_lines=20)
    assert passed["lines"] == 20 and passed["finalized"] == 2
    assert await _status(runtime, small_b) == "completed"
    assert await _status(runtime, small_a) == "completed"
    assert await _status(runtime, large) == "in_progress"
    assert await _answered(runtime, large) == 16  # 20 lines started: 2 + 2 for the small ones

    rest = await tick(work, seconds=300.0)
    assert rest == {"batches": 1, "lines": 24, "finalized": 1}
    ended = await records.load(runtime.store, "tenant-a", large.id)
    assert ended is not None and ended.status == "completed" and ended.counts["succeeded"] == 40


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0  # the start of a one-minute window

    def __call__(self) -> float:
        return self.now


async def test_lines_wait_for_their_tenant_s_budget_and_are_counted_in_its_usage(runtime: Runtime) -> None:
    """Tenant `tight` may make 2 requests a minute: 2 of its 3 lines run in this window, the third in the next
    one; tenant `free` is not held up meanwhile. Each line counts in the rate-limit window and the usage rows."""
    tight, free = tenant_id("tight-key"), tenant_id("free-key")
    clock = Clock()
    limits = LimitTable(0, 0, json.dumps({"tight-key": {"rpm": 2}}), tenant_id)
    limiter = RateLimiter(runtime.store, limits, clock=clock)
    usage = UsageLedger(runtime.store, clock=clock)
    work: BatchServices = dataclasses.replace(await runtime.batches(), budget=BatchBudget(limiter, usage))
    held = await create_anthropic(work.files, tight, _requests("t", 3), 4)
    other = await create_anthropic(work.files, free, _requests("f", 3), 4)

    first = await tick(work, seconds=300.0)
    assert first == {"batches": 2, "lines": 5, "finalized": 1}
    assert await _status(runtime, other) == "completed"
    assert await _answered(runtime, held) == 2 and await _status(runtime, held) == "in_progress"
    verdict = await limiter.admit(tight)  # a live request of the tenant now: over its limit
    assert verdict is not None and verdict.refused_by == "requests"

    assert await tick(work, seconds=300.0) == {"batches": 1, "lines": 0, "finalized": 0}  # still this window
    clock.now += 60.0
    second = await tick(work, seconds=300.0)
    assert second == {"batches": 1, "lines": 1, "finalized": 1}
    assert await _status(runtime, held) == "completed"

    rows = {row["tenant"]: row for row in await usage.report()}
    assert rows[tight]["requests"] == 3 and rows[free]["requests"] == 3
    ended = await records.load(runtime.store, tight, held.id)
    assert ended is not None
    assert rows[tight]["input_tokens"] == ended.usage["input_tokens"] > 0
    assert rows[tight]["output_tokens"] == ended.usage["output_tokens"] > 0


class GatedReads:
    """The runtime's blob store, with reads held at a gate: the test decides when validation reads the input."""

    def __init__(self, inner: BlobStore) -> None:
        self.inner = inner
        self.reading = asyncio.Event()
        self.gate = asyncio.Event()

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def open(self, key: str, chunk_size: int = 256 * 1024) -> AsyncIterator[bytes]:
        self.reading.set()
        await self.gate.wait()
        async for chunk in self.inner.open(key, chunk_size):
            yield chunk


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_a_cancel_while_validating_wins(runtime: Runtime) -> None:
    work = await runtime.batches()
    gated = GatedReads(await work.files.blob())

    async def blob() -> BlobStore:
        return gated  # type: ignore[return-value]

    files = Files(runtime.store, blob)
    lines = [
        {"custom_id": f"v{i}", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "m"}}
        for i in range(3)
    ]
    source = await files.upload(
        _one_chunk(b"".join(json.dumps(line).encode() + b"\n" for line in lines)),
        tenant="tenant-v", api="openai", limit=10_000, purpose="batch", filename="in.jsonl",
        media_type="application/jsonl",
    )  # fmt: skip
    creating = asyncio.create_task(
        create_openai(
            files,
            "tenant-v",
            input_file_id=source.id,
            endpoint="/v1/chat/completions",
            metadata=None,
            chunk_lines=2,
            max_line_bytes=runtime.settings.max_request_bytes,
        )
    )
    await asyncio.wait_for(gated.reading.wait(), 30)
    [validating] = await records.listing(runtime.store, "tenant-v", "openai")
    assert validating.status == "validating"
    cancelling = await records.update(runtime.store, "tenant-v", validating.id, _start_cancel)
    assert cancelling is not None and cancelling.status == "cancelling"
    gated.gate.set()
    created = await asyncio.wait_for(creating, 30)
    assert created.status == "cancelling" and created.total == 3  # not in_progress: the cancel stands

    passed = await tick(dataclasses.replace(work, files=files), seconds=60.0)
    assert passed == {"batches": 1, "lines": 0, "finalized": 1}
    ended = await records.load(runtime.store, "tenant-v", created.id)
    assert ended is not None and ended.status == "cancelled" and ended.in_progress_at is None
    assert ended.counts == {"succeeded": 0, "errored": 0, "canceled": 3, "expired": 0}
