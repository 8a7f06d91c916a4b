"""Gateway vs direct-to-upstream: throughput and time to first token, stream and non-stream.

    python bench/gateway_vs_direct.py [--clients 32] [--requests 600]

(a) `openai` kind: clients → gateway → a minimal OpenAI-compatible server, vs clients → that server.
(b) `qwen-web` kind: clients → gateway → emulator, vs clients speaking the web protocol to the emulator
    directly (sign-in once, new chat + streaming completion per request, the same steps the gateway takes).
Every process runs on this machine, so the figures include the load generator sharing the CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: `tests` is a package
from qwen_server.core.sse import SSEParser
from qwen_server.providers.qwen_web import wire
from qwen_server.providers.qwen_web.auth import token_from_response
from qwen_server.providers.qwen_web.headers import build_headers
from qwen_server.providers.transport import Reply
from tests.processes import (
    Service,
    _spawn,
    emulator_accounts,
    free_port,
    start_emulator,
    start_gateway,
    wait_http,
)

Call = Callable[[httpx.AsyncClient, bool], Awaitable[float]]
PROMPT = "benchmark prompt with a few words in it"


def start_fake_openai() -> Service:
    port = free_port()
    process, log = _spawn(
        [sys.executable, str(Path(__file__).with_name("fake_openai.py")), "--port", str(port)],
        {},
        "fake-openai",
    )
    service = Service(process, port, log)
    wait_http(f"{service.url}/v1/models", process)
    return service


def openai_call(base: str) -> Call:
    async def call(client: httpx.AsyncClient, stream: bool) -> float:
        body = {"model": "qwen3-max", "messages": [{"role": "user", "content": PROMPT}], "stream": stream}
        started = time.perf_counter()
        if not stream:
            response = await client.post(f"{base}/chat/completions", json=body)
            response.raise_for_status()
            return time.perf_counter() - started
        ttft = 0.0
        async with client.stream("POST", f"{base}/chat/completions", json=body) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if not ttft and line.startswith("data: ") and '"content"' in line:
                    ttft = time.perf_counter() - started
        return ttft

    return call


def qwen_direct_call(emulator: Service) -> Call:
    token: dict[str, str] = {}

    async def call(client: httpx.AsyncClient, stream: bool) -> float:
        base = emulator.url
        if "t" not in token:
            import hashlib

            body = {"email": "user0@emulator.local", "password": hashlib.sha256(b"password0").hexdigest()}
            response = await client.post(base + wire.SIGNIN_PATH, json=body, headers=build_headers(base))
            reply = Reply(response.status_code, {}, response.content, response.headers.get_list("set-cookie"))
            token["t"] = token_from_response(reply) or ""
        started = time.perf_counter()
        headers = build_headers(base, token=token["t"])
        new = await client.post(
            base + wire.NEW_CHAT_PATH, content=orjson.dumps(wire.new_chat_body("qwen3-max")), headers=headers
        )
        chat_id = new.json()["data"]["id"]
        payload = wire.completion_body(
            chat_id=chat_id, model="qwen3-max", content=PROMPT, thinking=False, thinking_budget=None
        )
        parser, ttft = SSEParser(), 0.0
        async with client.stream(
            "POST",
            f"{base}{wire.COMPLETIONS_PATH}?chat_id={chat_id}",
            content=orjson.dumps(payload),
            headers=build_headers(base, token=token["t"], chat_id=chat_id, stream=True),
        ) as response:
            async for chunk in response.aiter_raw():
                for event in parser.feed(chunk):
                    if (
                        not ttft
                        and '"answer"' in event.data
                        and '"content":""' not in event.data.replace(" ", "")
                    ):
                        ttft = time.perf_counter() - started
        await client.delete(base + wire.CHAT_PATH.format(chat_id=chat_id), headers=headers)
        return ttft if stream else time.perf_counter() - started

    return call


async def load(call: Call, clients: int, requests: int, stream: bool) -> dict[str, float]:
    limits = httpx.Limits(max_connections=clients * 2, max_keepalive_connections=clients * 2)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await call(client, stream)  # warm-up: sign-in, connections, model list
        samples: list[float] = []
        errors = 0
        queue = iter(range(requests))

        async def worker() -> None:
            nonlocal errors
            for _ in queue:
                try:
                    samples.append(await call(client, stream))
                except httpx.HTTPError:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    samples.sort()
    return {
        "rps": len(samples) / elapsed,
        "p50": statistics.median(samples) * 1000,
        "p99": samples[int(len(samples) * 0.99) - 1] * 1000,
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=600)
    args = parser.parse_args()
    fake = start_fake_openai()
    emulator = start_emulator(accounts=8)
    env = {"SCHED_CHAT_CONCURRENT": "256", "UPSTREAM_FIRST_BYTE_TIMEOUT": "30"}
    gw_openai = start_gateway(
        env,
        accounts=[{"kind": "openai", "base_url": f"{fake.url}/v1", "api_key": "k", "max_concurrent": 256}],
    )
    gw_qwen = start_gateway(env, accounts=emulator_accounts(emulator, 8, max_concurrent=64))
    rows: list[tuple[str, str, int, dict[str, float], dict[str, float]]] = []
    try:
        cases = [
            ("openai", openai_call(f"{fake.url}/v1"), openai_call(f"{gw_openai.url}/v1")),
            ("qwen-web", qwen_direct_call(emulator), openai_call(f"{gw_qwen.url}/v1")),
        ]
        for kind, direct, via_gateway in cases:
            for stream in (True, False):
                for clients, requests in ((1, 100), (args.clients, args.requests)):
                    d = asyncio.run(load(direct, clients, requests, stream))
                    g = asyncio.run(load(via_gateway, clients, requests, stream))
                    rows.append((kind, "stream" if stream else "non-stream", clients, d, g))
    finally:
        for service in (gw_openai, gw_qwen, emulator, fake):
            service.stop()
    header = (
        f"{'upstream':9} {'mode':10} {'clients':>7} | {'direct rps':>10} {'gw rps':>8} {'ratio':>6} | "
        f"{'direct p50':>10} {'gw p50':>8} {'added':>7} | {'direct p99':>10} {'gw p99':>8} | errors"
    )
    print("\nTTFT in ms (stream: first content chunk; non-stream: whole response)")
    print(header)
    print("-" * len(header))
    for kind, mode, clients, d, g in rows:
        print(
            f"{kind:9} {mode:10} {clients:>7} | {d['rps']:>10.1f} {g['rps']:>8.1f} {g['rps'] / d['rps']:>6.2f} | "
            f"{d['p50']:>10.2f} {g['p50']:>8.2f} {g['p50'] - d['p50']:>7.2f} | {d['p99']:>10.2f} {g['p99']:>8.2f} | "
            f"{int(d['errors'])}/{int(g['errors'])}"
        )


if __name__ == "__main__":
    main()
