"""The load generator for the proxy comparison: aiohttp, pooled keep-alive connections, answers read in full.

aiohttp rather than httpx because the client must be faster than everything it measures: at 32 concurrent
requests httpx's own transport tops out below what the direct path serves.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass

import orjson
from aiohttp import ClientError, ClientSession, ClientTimeout, TCPConnector

PROMPT = "benchmark prompt with a few words in it"


def chat_body(stream: bool, model: str = "qwen3-max") -> bytes:
    return orjson.dumps({"model": model, "messages": [{"role": "user", "content": PROMPT}], "stream": stream})


@dataclass(frozen=True)
class Throughput:
    rps: float
    errors: int


@dataclass(frozen=True)
class Latency:
    p50_ms: float
    p99_ms: float


def _session(clients: int, key: str) -> ClientSession:
    connector = TCPConnector(limit=clients * 2, keepalive_timeout=60)
    return ClientSession(connector=connector, timeout=ClientTimeout(total=120), headers=_headers(key))


DEFAULT_KEY = "bench-key"


def _headers(key: str) -> dict[str, str]:
    return {"content-type": "application/json", "authorization": f"Bearer {key}"}


async def _one(session: ClientSession, url: str, body: bytes, stream: bool) -> bool:
    """One chat call, read to its end; True when it succeeded (a stream must end with `[DONE]`)."""
    async with session.post(url, data=body) as response:
        data = await response.read()
        return response.status == 200 and (not stream or data.rstrip().endswith(b"[DONE]"))


async def _throughput(url: str, stream: bool, clients: int, requests: int, key: str) -> Throughput:
    body = chat_body(stream)
    async with _session(clients, key) as session:
        await asyncio.gather(*(_one(session, url, body, stream) for _ in range(clients)))  # open connections
        remaining = iter(range(requests))
        errors = 0

        async def client() -> None:
            nonlocal errors
            for _ in remaining:
                try:
                    ok = await _one(session, url, body, stream)
                except (TimeoutError, ClientError):
                    ok = False
                errors += not ok

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return Throughput((requests - errors) / elapsed, errors)


async def _latency(url: str, count: int, warmup: int, key: str) -> Latency:
    body = chat_body(False)
    samples: list[float] = []
    async with _session(1, key) as session:
        for _ in range(warmup):
            await _one(session, url, body, False)
        for _ in range(count):
            started = time.perf_counter()
            if not await _one(session, url, body, False):
                raise RuntimeError(f"{url} failed a latency sample")
            samples.append(time.perf_counter() - started)
    samples.sort()
    return Latency(statistics.median(samples) * 1000, samples[max(0, round(len(samples) * 0.99) - 1)] * 1000)


def throughput(url: str, stream: bool, clients: int, requests: int, key: str = DEFAULT_KEY) -> Throughput:
    """Requests per second with `clients` concurrent callers sharing `requests` calls."""
    return asyncio.run(_throughput(url, stream, clients, requests, key))


def latency(url: str, count: int, warmup: int = 50, key: str = DEFAULT_KEY) -> Latency:
    """p50 / p99 of `count` sequential non-stream calls after `warmup` untimed ones."""
    return asyncio.run(_latency(url, count, warmup, key))
