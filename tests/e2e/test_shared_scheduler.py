"""Gateways sharing one Redis store keep one global concurrency cap, and overflow gets 429 + Retry-After."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.processes import Service, emulator_accounts, emulator_stats, start_emulator, start_gateway
from tests.services import redis_binary, redis_url_with, start_redis, stop

pytestmark = pytest.mark.skipif(redis_binary() is None, reason="redis-server is not installed")


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    url, process = start_redis()
    yield url
    stop(process)


@pytest.fixture(scope="module")
def slow_emulator() -> Iterator[Service]:
    emulator = start_emulator("--first-token-latency", "0.25", "--token-latency", "0.01", accounts=6)
    yield emulator
    emulator.stop()


def test_two_gateways_never_exceed_the_shared_cap(redis_url: str, slow_emulator: Service) -> None:
    env = {"STORE_URL": redis_url, "SCHED_CHAT_CONCURRENT": "4", "SCHED_CHAT_QUEUE": "200"}
    accounts = emulator_accounts(slow_emulator, 6, max_concurrent=10)
    gateways = [start_gateway(env, accounts=accounts) for _ in range(2)]
    try:
        httpx.post(f"{slow_emulator.url}/_emulator/reset", json={}, timeout=30).raise_for_status()

        async def run() -> list[str]:
            clients = [
                openai.AsyncOpenAI(base_url=f"{g.url}/v1", api_key="k", max_retries=0) for g in gateways
            ]

            async def one(i: int) -> str:
                reply = await clients[i % 2].chat.completions.create(
                    model="qwen3-max", messages=[{"role": "user", "content": f"request number {i}"}]
                )
                return reply.choices[0].message.content or ""

            return await asyncio.gather(*(one(i) for i in range(40)))

        answers = asyncio.run(run())
        assert answers == [f"request number {i}" for i in range(40)]
        stats = emulator_stats(slow_emulator)
        assert stats["completions"] == 40
        assert stats["max_in_flight"] <= 4, stats["max_in_flight"]
        assert stats["max_in_flight"] >= 3, "the cap is shared, not serialised"
        metrics = httpx.get(f"{gateways[0].url}/v1/metrics", timeout=30).json()["scheduler"]["chat"]
        assert metrics["limit"] == 4 and metrics["admitted"] >= 1
    finally:
        for gateway in gateways:
            gateway.stop()


def test_queue_overflow_is_429_with_retry_after(redis_url: str, slow_emulator: Service) -> None:
    env = {
        "STORE_URL": redis_url_with(redis_url, db=1),
        "SCHED_CHAT_CONCURRENT": "1",
        "SCHED_CHAT_QUEUE": "2",
    }
    gateway = start_gateway(env, accounts=emulator_accounts(slow_emulator, 2))
    try:

        async def run() -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=60) as client:
                body = {"model": "qwen3-max", "messages": [{"role": "user", "content": "queue me"}]}
                return await asyncio.gather(
                    *(client.post(f"{gateway.url}/v1/chat/completions", json=body) for _ in range(10))
                )

        responses = asyncio.run(run())
        statuses = sorted(r.status_code for r in responses)
        assert statuses.count(200) >= 3 and statuses.count(429) >= 1, statuses
        assert set(statuses) <= {200, 429}
        rejected = next(r for r in responses if r.status_code == 429)
        assert int(rejected.headers["retry-after"]) >= 1
        assert rejected.json()["error"]["type"] == "rate_limit_error"

        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
        ok = client.chat.completions.create(
            model="qwen3-max", messages=[{"role": "user", "content": "after"}]
        )
        assert ok.choices[0].message.content == "after"
    finally:
        gateway.stop()
