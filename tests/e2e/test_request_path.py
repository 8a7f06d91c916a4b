"""The request path under real use, on the stores that have real awaits (SQLite, Redis).

Each test starts the gateway and the emulator as processes and drives them the way clients do: SDK streams
aborted halfway, many parallel requests on one small account, clients that give up while queued, a stream
that stalls upstream, a client that stops reading. A leaked slot shows up as a later request that cannot
start (the class wait is cut to a few seconds, so a leak fails fast instead of hanging).
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.processes import Service, emulator_accounts, emulator_stats, start_emulator, start_gateway
from tests.services import redis_binary, start_redis, stop

STORES = [
    "sqlite",
    pytest.param("redis", marks=pytest.mark.skipif(redis_binary() is None, reason="no redis")),
]
_redis_db = itertools.count(1)


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    if redis_binary() is None:
        yield ""
        return
    url, process = start_redis()
    yield url
    stop(process)


@pytest.fixture(params=STORES)
def store_url(request: pytest.FixtureRequest, tmp_path: Any, redis_url: str) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return f"{redis_url.rsplit('/', 1)[0]}/{next(_redis_db) % 16}"


@pytest.fixture
def emulator() -> Iterator[Service]:
    service = start_emulator("--token-latency", "0.01", accounts=1)
    yield service
    service.stop()


def gateway_for(emulator: Service, store_url: str, max_concurrent: int, **env: str) -> Service:
    settings = {"STORE_URL": store_url, "SCHED_CHAT_TIMEOUT": "6", **env}
    return start_gateway(settings, accounts=emulator_accounts(emulator, 1, max_concurrent=max_concurrent))


def script(emulator: Service, *replies: dict[str, Any]) -> None:
    response = httpx.post(f"{emulator.url}/_emulator/script", json={"replies": list(replies)}, timeout=30)
    response.raise_for_status()


def metrics(gateway: Service) -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(f"{gateway.url}/v1/metrics", timeout=30).json()
    return data


def eventually(check: Callable[[], bool], within: float = 30.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def all_free(gateway: Service, emulator: Service) -> bool:
    data = metrics(gateway)
    return (
        data["accounts"][0]["in_flight"] == 0
        and data["scheduler"]["chat"]["in_flight"] == 0
        and data["scheduler"]["chat"]["queued"] == 0
        and emulator_stats(emulator)["in_flight"] == 0
    )


LONG = {"chunks": [f"part {i} " for i in range(300)]}


HELD = {"chunks": ["held ", "open"], "silence_mid": 60}  # script it for the request `holding_the_account` makes


@contextmanager
def holding_the_account(gateway: Service) -> Iterator[None]:
    """A streamed request that holds the account's one slot until the block ends (its answer, scripted `HELD`,
    falls silent half-way), so whatever the block does happens while the slot is taken, however slow."""
    body = {"model": "qwen3-max", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    with httpx.Client(timeout=60) as http, http.stream("POST", f"{gateway.url}/v1/chat/completions", json=body):
        assert eventually(lambda: metrics(gateway)["accounts"][0]["in_flight"] == 1)
        yield


def test_aborted_streams_never_leak_a_slot(emulator: Service, store_url: str) -> None:
    """Esc in Claude Code, Stop in a chat UI: six aborts in a row on an account with one slot."""
    gateway = gateway_for(emulator, store_url, max_concurrent=1)
    try:
        oai = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0, timeout=60)
        claude = anthropic.Anthropic(base_url=gateway.url, api_key="k", max_retries=0, timeout=60)
        for round_ in range(3):
            script(emulator, LONG)
            stream = oai.chat.completions.create(
                model="qwen3-max", messages=[{"role": "user", "content": "long"}], stream=True
            )
            pieces = [next(stream) for _ in range(3)]
            assert any(p.choices and p.choices[0].delta.content for p in pieces), round_
            stream.close()

            script(emulator, LONG)
            with claude.messages.stream(
                model="qwen3-max", max_tokens=4000, messages=[{"role": "user", "content": "long"}]
            ) as answer:
                assert next(iter(answer.text_stream))
        assert eventually(lambda: all_free(gateway, emulator)), metrics(gateway)
        reply = oai.chat.completions.create(
            model="qwen3-max", messages=[{"role": "user", "content": "after"}]
        )
        assert reply.choices[0].message.content == "after"
    finally:
        gateway.stop()


def test_back_pressure_queues_instead_of_refusing(emulator: Service, store_url: str) -> None:
    """24 parallel requests on one account with two slots: all answered, never more than two upstream."""
    gateway = gateway_for(emulator, store_url, max_concurrent=2, SCHED_CHAT_TIMEOUT="60")
    try:
        httpx.post(
            f"{emulator.url}/_emulator/knobs", json={"first_token_latency": 0.15}, timeout=5
        ).raise_for_status()

        async def run() -> list[str]:
            client = openai.AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0, timeout=60)

            async def one(i: int) -> str:
                reply = await client.chat.completions.create(
                    model="qwen3-max", messages=[{"role": "user", "content": f"request {i}"}]
                )
                return reply.choices[0].message.content or ""

            return await asyncio.gather(*(one(i) for i in range(24)))

        assert asyncio.run(run()) == [f"request {i}" for i in range(24)]
        stats = emulator_stats(emulator)
        assert stats["completions"] == 24
        assert stats["max_in_flight"] == 2, stats
        assert eventually(lambda: all_free(gateway, emulator))
    finally:
        gateway.stop()


def test_a_wait_that_times_out_is_a_local_overload(emulator: Service, store_url: str) -> None:
    gateway = gateway_for(emulator, store_url, max_concurrent=1, SCHED_CHAT_TIMEOUT="1")
    try:
        script(emulator, HELD)
        with holding_the_account(gateway):
            oai = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
            with pytest.raises(openai.RateLimitError) as caught:
                oai.chat.completions.create(model="qwen3-max", messages=[{"role": "user", "content": "y"}])
            assert caught.value.code == "queue_timeout"
            assert "account slot" in caught.value.message
            assert int(caught.value.response.headers["retry-after"]) >= 1
            claude = anthropic.Anthropic(base_url=gateway.url, api_key="k", max_retries=0)
            with pytest.raises(anthropic.APIStatusError) as overloaded:
                claude.messages.create(
                    model="qwen3-max", max_tokens=10, messages=[{"role": "user", "content": "z"}]
                )
            assert overloaded.value.status_code == 529
        assert emulator_stats(emulator)["completions"] == 1  # the refused ones never reached the upstream
    finally:
        gateway.stop()


@pytest.mark.parametrize("route", ["openai", "anthropic"])
def test_a_client_that_leaves_the_queue_never_reaches_the_upstream(
    emulator: Service, store_url: str, route: str
) -> None:
    gateway = gateway_for(emulator, store_url, max_concurrent=1, SCHED_CHAT_TIMEOUT="30")
    try:
        script(emulator, HELD)
        path, body = (
            (
                "/v1/chat/completions",
                {"model": "qwen3-max", "messages": [{"role": "user", "content": "gone"}]},
            )
            if route == "openai"
            else (
                "/v1/messages",
                {
                    "model": "qwen3-max",
                    "max_tokens": 50,
                    "stream": True,
                    "messages": [{"role": "user", "content": "gone"}],
                },
            )
        )
        with holding_the_account(gateway):
            with pytest.raises(httpx.ReadTimeout):
                httpx.post(f"{gateway.url}{path}", json=body, timeout=httpx.Timeout(5, read=0.7))
            # the client hung up while queued: the ticket leaves the queue while the slot is still taken
            assert eventually(lambda: metrics(gateway)["scheduler"]["chat"]["queued"] == 0)
        assert eventually(lambda: all_free(gateway, emulator))
        assert emulator_stats(emulator)["completions"] == 1, "the departed request reached the upstream"
        after = httpx.post(
            f"{gateway.url}/v1/chat/completions",
            json={"model": "qwen3-max", "messages": [{"role": "user", "content": "next"}]},
            timeout=10,
        )
        assert after.json()["choices"][0]["message"]["content"] == "next"
        assert emulator_stats(emulator)["completions"] == 2
    finally:
        gateway.stop()


def test_a_stalled_stream_keeps_its_slot_past_the_lease(emulator: Service, store_url: str) -> None:
    """Slots are renewed on a timer: an upstream silent for longer than the lease cannot let a second
    request onto an account with one slot."""
    gateway = gateway_for(
        emulator, store_url, max_concurrent=1, ACCOUNT_LEASE_SECONDS="2", SCHED_CHAT_TIMEOUT="60"
    )
    try:
        script(emulator, {"chunks": ["before ", "the ", "stall ", "and ", "after"], "silence_mid": 5})

        async def run() -> list[str]:
            client = openai.AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0, timeout=60)
            streaming = asyncio.Event()

            async def stalled() -> str:
                stream = await client.chat.completions.create(
                    model="qwen3-max", messages=[{"role": "user", "content": "x"}], stream=True
                )
                pieces = []
                async for chunk in stream:
                    if chunk.choices:
                        pieces.append(chunk.choices[0].delta.content or "")
                        streaming.set()
                return "".join(pieces)

            async def second() -> str:
                await streaming.wait()
                # at least the lease's 2 s later: the first lease would have lapsed without its renewals (if
                # the machine is so slow that the stall is over by then, the order below still holds)
                await asyncio.sleep(2.5)
                reply = await client.chat.completions.create(
                    model="qwen3-max", messages=[{"role": "user", "content": "second"}]
                )
                return reply.choices[0].message.content or ""

            return await asyncio.gather(stalled(), second())

        assert asyncio.run(run()) == ["before the stall and after", "second"]
        assert emulator_stats(emulator)["max_in_flight"] == 1
    finally:
        gateway.stop()


def test_a_client_that_stops_reading_is_cut_off(emulator: Service, store_url: str) -> None:
    gateway = gateway_for(emulator, store_url, max_concurrent=1, STREAM_WRITE_TIMEOUT="1.5")
    try:
        httpx.post(f"{emulator.url}/_emulator/knobs", json={"token_latency": 0}, timeout=30).raise_for_status()
        script(emulator, {"chunks": ["x" * 16384] * 1500})  # ~24 MB: more than any socket buffers hold
        body = b'{"model": "qwen3-max", "stream": true, "messages": [{"role": "user", "content": "big"}]}'
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", gateway.port))
        try:
            sock.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            assert sock.recv(1024).startswith(b"HTTP/1.1 200")
            # ...and never read again, with the connection left open
            assert eventually(lambda: all_free(gateway, emulator), within=30), metrics(gateway)
            assert emulator_stats(emulator)["completions"] == 1
        finally:
            sock.close()
        reply = httpx.post(
            f"{gateway.url}/v1/chat/completions",
            json={"model": "qwen3-max", "messages": [{"role": "user", "content": "next"}]},
            timeout=10,
        )
        assert reply.json()["choices"][0]["message"]["content"] == "next"
    finally:
        gateway.stop()


def test_two_gateways_share_the_account_slots(emulator: Service, store_url: str) -> None:
    """Two processes on one store: the account's two slots are shared, the queue too."""
    accounts = emulator_accounts(emulator, 1, max_concurrent=2)
    env = {"STORE_URL": store_url, "SCHED_CHAT_TIMEOUT": "60"}
    gateways = [start_gateway(env, accounts=accounts) for _ in range(2)]
    try:
        httpx.post(
            f"{emulator.url}/_emulator/knobs", json={"first_token_latency": 0.1}, timeout=5
        ).raise_for_status()

        async def run() -> list[str]:
            clients = [
                openai.AsyncOpenAI(base_url=f"{g.url}/v1", api_key="k", max_retries=0, timeout=60)
                for g in gateways
            ]

            async def one(i: int) -> str:
                reply = await clients[i % 2].chat.completions.create(
                    model="qwen3-max", messages=[{"role": "user", "content": f"request {i}"}]
                )
                return reply.choices[0].message.content or ""

            return await asyncio.gather(*(one(i) for i in range(20)))

        assert asyncio.run(run()) == [f"request {i}" for i in range(20)]
        stats = emulator_stats(emulator)
        assert stats["completions"] == 20
        assert stats["max_in_flight"] == 2, stats
    finally:
        for gateway in gateways:
            gateway.stop()
