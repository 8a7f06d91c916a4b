"""Time to the first token of a web answer with the upstream far away, against the one-call floor.

    python bench/web_first_token.py [--rtt-ms 80] [--samples 30] [--tiny]

The emulator runs with `--rtt`: every call to it waits that long before it is handled, as an upstream that
far away would answer. Streamed answers, one at a time, sampled round-robin across the rows so the machine's
load hits every row alike:

- direct, chat already made: a client that holds a chat id sends only the completion: the one-call floor;
- direct, new chat + completion: what a web answer costs when its chat is made on the request path;
- the gateway with ready chats (`READY_CHATS=2`, the default) and with them off (`READY_CHATS=0`).

Time to first token: from sending the request to reading the first piece of answer text. The gateway's
rows carry its own cost on top (sign-in and listing are done by a warm-up answer). Target: the gateway with
ready chats within 1.15x the floor.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import platform
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
from tests.processes import Service, emulator_accounts, start_emulator, start_gateway

PROMPT = "how far away is the upstream"
Sample = Callable[[httpx.AsyncClient], Awaitable[float]]


async def _token(client: httpx.AsyncClient, base: str) -> str:
    body = {"email": "user0@emulator.local", "password": hashlib.sha256(b"password0").hexdigest()}
    response = await client.post(base + wire.SIGNIN_PATH, json=body, headers=build_headers(base))
    reply = Reply(response.status_code, {}, response.content, response.headers.get_list("set-cookie"))
    return token_from_response(reply) or ""


async def _new_chat(client: httpx.AsyncClient, base: str, token: str) -> str:
    body = orjson.dumps(wire.new_chat_body("qwen3-max"))
    response = await client.post(base + wire.NEW_CHAT_PATH, content=body, headers=build_headers(base, token=token))
    return str(response.json()["data"]["id"])


async def _first_answer_piece(client: httpx.AsyncClient, base: str, token: str, chat_id: str, started: float) -> float:
    payload = wire.completion_body(chat_id=chat_id, model="qwen3-max", content=PROMPT, thinking=False, thinking_budget=None)
    headers = build_headers(base, token=token, chat_id=chat_id, stream=True)
    url = f"{base}{wire.COMPLETIONS_PATH}?chat_id={chat_id}"
    parser, ttft = SSEParser(), 0.0
    async with client.stream("POST", url, content=orjson.dumps(payload), headers=headers) as response:
        async for chunk in response.aiter_raw():
            for event in parser.feed(chunk):
                if not ttft and '"answer"' in event.data and '"content":""' not in event.data.replace(" ", ""):
                    ttft = time.perf_counter() - started
    return ttft


def direct(emulator: Service, make_chat: bool) -> Sample:
    """The web protocol spoken directly; the chat made inside the clock (`make_chat`) or before it."""
    base = emulator.url
    token: list[str] = []

    async def sample(client: httpx.AsyncClient) -> float:
        if not token:
            token.append(await _token(client, base))
        chat_id = None if make_chat else await _new_chat(client, base, token[0])
        started = time.perf_counter()
        if chat_id is None:
            chat_id = await _new_chat(client, base, token[0])
        ttft = await _first_answer_piece(client, base, token[0], chat_id, started)
        await client.delete(base + wire.CHAT_PATH.format(chat_id=chat_id), headers=build_headers(base, token=token[0]))
        return ttft

    return sample


def via_gateway(gateway: Service) -> Sample:
    body = orjson.dumps({"model": "qwen3-max", "messages": [{"role": "user", "content": PROMPT}], "stream": True})
    headers = {"authorization": "Bearer k", "content-type": "application/json"}

    async def sample(client: httpx.AsyncClient) -> float:
        started, ttft = time.perf_counter(), 0.0
        async with client.stream("POST", f"{gateway.url}/v1/chat/completions", content=body, headers=headers) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if not ttft and line.startswith("data: ") and '"content":"' in line.replace(" ", "") and '"content":""' not in line.replace(" ", ""):
                    ttft = time.perf_counter() - started
        return ttft

    return sample


async def measure(rows: list[tuple[str, Sample]], samples: int, pause: float) -> dict[str, list[float]]:
    """Round-robin over the rows, `samples` each, after one untimed warm-up per row."""
    out: dict[str, list[float]] = {name: [] for name, _ in rows}
    async with httpx.AsyncClient(timeout=60) as client:
        for _, sample in rows:
            await sample(client)
            await asyncio.sleep(pause)
        for _ in range(samples):
            for name, sample in rows:
                out[name].append(await sample(client))
                await asyncio.sleep(pause)  # the gateway refills its stock between answers, as between users
    return out


def print_table(results: dict[str, list[float]], rtt_ms: float, samples: int) -> None:
    floor = statistics.median(results[FLOOR])
    print(
        f"\nTime to first token, streamed, one answer at a time; emulated round trip {rtt_ms:g} ms per upstream call; "
        f"{samples} samples per row, interleaved"
    )
    header = f"{'path':46} {'p50 ms':>8} {'p90 ms':>8} {'x floor (p50)':>14}"
    print(header)
    print("-" * len(header))
    for name, values in results.items():
        ordered = sorted(values)
        p50, p90 = statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
        print(f"{name:46} {p50 * 1000:8.1f} {p90 * 1000:8.1f} {p50 / floor:14.2f}")
    ready = statistics.median(results[READY]) / floor
    print(f"gateway with ready chats / floor: {ready:.2f}x (target 1.15x: {'met' if ready <= 1.15 else 'missed'})")


FLOOR = "direct, chat already made (one-call floor)"
READY = "gateway, ready chats (READY_CHATS=2)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rtt-ms", type=float, default=80.0)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--tiny", action="store_true", help="a few samples at a short round trip (smoke run)")
    args = parser.parse_args()
    if args.tiny:
        args.rtt_ms, args.samples = 10.0, 2
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, {platform.system()}; Python {platform.python_version()}; "
        f"emulator, gateways and client all on it"
    )
    emulator = start_emulator("--rtt", str(args.rtt_ms / 1000), accounts=1)
    accounts = emulator_accounts(emulator, 1, max_concurrent=16)
    ready = start_gateway({"READY_CHATS": "2"}, accounts=accounts)
    off = start_gateway({"READY_CHATS": "0"}, accounts=accounts)
    try:
        rows = [
            (FLOOR, direct(emulator, make_chat=False)),
            ("direct, new chat + completion (two calls)", direct(emulator, make_chat=True)),
            (READY, via_gateway(ready)),
            ("gateway, ready chats off (READY_CHATS=0)", via_gateway(off)),
        ]
        results = asyncio.run(measure(rows, args.samples, pause=3 * args.rtt_ms / 1000))
    finally:
        for service in (ready, off, emulator):
            service.stop()
    print_table(results, args.rtt_ms, args.samples)


if __name__ == "__main__":
    main()
