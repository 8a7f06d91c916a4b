"""Fault suite: a pool where 30 % of the accounts fail, each in its own way, still answers every request.

The failing accounts cover every fault the emulator knows: 5xx, 429, a dropped stream, a hang, a WAF page,
garbage instead of events, an in-stream error, and a first byte slower than the gateway waits for. The
gateway fails over before the first byte and continues answers that break after it; clients (both SDKs,
streamed and not, with their own retries off) see only correct answers. Then the Redis store is killed while
requests run: the gateway answers 503 in each API's shape, and serves again once Redis is back.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.processes import Service, emulator_accounts, emulator_stats, start_emulator, start_gateway
from tests.services import redis_binary, start_redis, stop

FAULTS: list[dict[str, float]] = [
    {"fail_500": 1.0},
    {"fail_429": 1.0},
    {"drop": 1.0},
    {"hang": 1.0},
    {"waf": 1.0},
    {"garbage": 1.0},
    {"in_stream": 1.0},
    {"first_token_latency": 30.0},  # past the gateway's first-byte timeout
]
HEALTHY = 19  # 8 of 27 accounts fail: 30 %
REQUESTS = 1000
CONCURRENCY = 24


def _check(kind: str, i: int, text: str, errors: list[str]) -> None:
    if text != f"question {kind} {i}":
        errors.append(f"{kind} {i}: wrong answer {text[:80]!r}")


async def _openai_one(client: openai.AsyncOpenAI, i: int, errors: list[str]) -> None:
    messages: Any = [{"role": "user", "content": f"question openai {i}"}]
    if i % 2:
        stream = await client.chat.completions.create(model="qwen3-max", messages=messages, stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    else:
        reply = await client.chat.completions.create(model="qwen3-max", messages=messages)
        text = reply.choices[0].message.content or ""
    _check("openai", i, text, errors)


async def _anthropic_one(client: anthropic.AsyncAnthropic, i: int, errors: list[str]) -> None:
    messages: Any = [{"role": "user", "content": f"question anthropic {i}"}]
    if i % 2:
        async with client.messages.stream(model="claude-opus-4-1", max_tokens=256, messages=messages) as s:
            text = "".join([t async for t in s.text_stream])
    else:
        reply = await client.messages.create(model="claude-opus-4-1", max_tokens=256, messages=messages)
        text = "".join(b.text for b in reply.content if b.type == "text")
    _check("anthropic", i, text, errors)


async def _load(gateway: Service, count: int, errors: list[str]) -> None:
    oa = openai.AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0, timeout=60)
    an = anthropic.AsyncAnthropic(base_url=gateway.url, api_key="k", max_retries=0, timeout=60)
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        async with gate:
            try:
                if i % 4 < 2:
                    await _openai_one(oa, i, errors)
                else:
                    await _anthropic_one(an, i, errors)
            except (openai.APIError, anthropic.APIError) as exc:
                errors.append(f"{i}: {type(exc).__name__}: {exc}")

    await asyncio.gather(*(one(i) for i in range(count)))


def test_thirty_percent_failing_accounts_cost_no_client_errors() -> None:
    knobs = {str(i): fault for i, fault in enumerate(FAULTS)}
    emulator = start_emulator("--account-knobs", json.dumps(knobs), accounts=len(FAULTS) + HEALTHY)
    gateway = start_gateway(
        {"UPSTREAM_FIRST_BYTE_TIMEOUT": "2", "UPSTREAM_IDLE_TIMEOUT": "2"},
        accounts=emulator_accounts(emulator, len(FAULTS) + HEALTHY, max_concurrent=8),
    )
    try:
        errors: list[str] = []
        asyncio.run(_load(gateway, REQUESTS, errors))
        failover = httpx.get(f"{gateway.url}/v1/metrics", timeout=30).json()["failover"]
        assert errors == [], failover
        assert failover["continuations"] > 0  # the dropped and broken streams were continued
        assert failover["requests_in_flight"] == 0 and failover["retries_in_flight"] == 0
        stats = emulator_stats(emulator)["accounts"]
        tried = [stats[f"user{i}@emulator.local"]["completions"] for i in range(len(FAULTS))]
        # the failing accounts were met, not just avoided (how many times each: the bandit's chance)
        assert sum(tried) >= 1, tried
    finally:
        gateway.stop()
        emulator.stop()


MIXED = {
    "fail_500": 0.05,
    "fail_429": 0.05,
    "drop": 0.05,
    "hang": 0.03,
    "waf": 0.05,
    "garbage": 0.05,
    "in_stream": 0.05,
}


def test_accounts_failing_a_third_of_the_time_in_every_way_cost_no_client_errors() -> None:
    """Four accounts fail about 30 % of their answers, drawing every fault at random; one is healthy (and takes
    two requests at a time, so the failing ones keep getting traffic)."""
    knobs = {str(i): {**MIXED, "first_token_latency": 0.3 if i == 0 else 0.0} for i in range(4)}
    emulator = start_emulator("--account-knobs", json.dumps(knobs), "--retry-after", "1", accounts=5)
    accounts = emulator_accounts(emulator, 5, max_concurrent=8)
    accounts[4]["max_concurrent"] = 2
    gateway = start_gateway(
        {"UPSTREAM_FIRST_BYTE_TIMEOUT": "2", "UPSTREAM_IDLE_TIMEOUT": "2"}, accounts=accounts
    )
    try:
        errors: list[str] = []
        kinds = {"500", "429", "drop", "hang", "waf", "garbage", "in_stream"}
        asyncio.run(_load(gateway, REQUESTS, errors))
        sent = REQUESTS
        # the failing accounts are chosen less and less as the pool learns: go on until every kind of fault
        # has been met at least once (the draws are random), still with no client error
        while not kinds <= set(emulator_stats(emulator)["errors"]) and sent < 5 * REQUESTS:
            asyncio.run(_load(gateway, REQUESTS // 2, errors))
            sent += REQUESTS // 2
        failover = httpx.get(f"{gateway.url}/v1/metrics", timeout=30).json()["failover"]
        assert errors == [], failover
        drawn = emulator_stats(emulator)["errors"]
        assert kinds <= set(drawn), drawn
    finally:
        gateway.stop()
        emulator.stop()


def test_a_quiet_gateway_fails_over_every_time() -> None:
    """120 serial requests, 3 of 5 accounts failing: the retry budget never leaves a client with an error."""
    knobs = {"0": {"fail_500": 1.0}, "1": {"fail_429": 1.0}, "2": {"drop": 1.0}}
    emulator = start_emulator("--account-knobs", json.dumps(knobs), "--retry-after", "1", accounts=5)
    gateway = start_gateway(accounts=emulator_accounts(emulator, 5))
    try:
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
        errors: list[str] = []
        for i in range(120):
            try:
                reply = client.chat.completions.create(
                    model="qwen3-max", messages=[{"role": "user", "content": f"serial {i}"}]
                )
                if reply.choices[0].message.content != f"serial {i}":
                    errors.append(f"{i}: {reply.choices[0].message.content!r}")
            except openai.APIError as exc:
                errors.append(f"{i}: {exc}")
        assert errors == []
    finally:
        gateway.stop()
        emulator.stop()


@pytest.mark.skipif(redis_binary() is None, reason="redis-server is not installed")
def test_a_redis_store_killed_under_load_answers_503_and_recovers() -> None:
    url, redis = start_redis()
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    emulator = start_emulator("--token-latency", "0.05", accounts=2)
    gateway = start_gateway({"STORE_URL": url}, accounts=emulator_accounts(emulator, 2, max_concurrent=8))
    try:
        errors: list[str] = []
        asyncio.run(_load(gateway, 40, errors))
        assert errors == []

        async def killed_midway() -> list[str]:
            """Requests keep coming while Redis dies: each gets its answer or a 503 in its API's shape."""
            failures: list[str] = []
            before = (await asyncio.to_thread(emulator_stats, emulator))["completions"]
            load = asyncio.create_task(_load(gateway, 400, failures))
            for _ in range(600):  # kill it once the load is well under way
                if (await asyncio.to_thread(emulator_stats, emulator))["completions"] >= before + 40:
                    break
                await asyncio.sleep(0.05)
            stop(redis)
            await load
            return failures

        failures = asyncio.run(killed_midway())
        assert failures, "the store died mid-load, yet no request noticed"
        unexpected = [f for f in failures if "store_unavailable" not in f and "503" not in f]
        assert unexpected == []
        body = {"model": "qwen3-max", "messages": [{"role": "user", "content": "hi"}]}
        chat = httpx.post(f"{gateway.url}/v1/chat/completions", json=body, timeout=30)
        assert chat.status_code == 503
        assert chat.json()["error"]["code"] == "store_unavailable"
        assert set(chat.json()["error"]) == {"message", "type", "param", "code"}
        messages = httpx.post(
            f"{gateway.url}/v1/messages",
            json={**body, "model": "claude-opus-4-1", "max_tokens": 16},
            headers={"anthropic-version": "2023-06-01"},
            timeout=30,
        )
        assert messages.status_code == 503
        assert messages.json()["type"] == "error" and set(messages.json()["error"]) == {"type", "message"}
        _, redis = start_redis(port)
        deadline = time.monotonic() + 30
        while True:  # the store's client reconnects on its own; give it the time a reconnect takes
            reply = httpx.post(f"{gateway.url}/v1/chat/completions", json=body, timeout=30)
            if reply.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert reply.status_code == 200 and reply.json()["choices"][0]["message"]["content"] == "hi"
        errors = []
        asyncio.run(_load(gateway, 40, errors))
        assert errors == []
    finally:
        gateway.stop()
        emulator.stop()
        stop(redis)
