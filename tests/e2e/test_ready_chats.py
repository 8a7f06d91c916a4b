"""Web answers cost one upstream call before their first token: the chat comes from the ready chats (made ahead,
in the shared store), so the only call between a client's request and its first token is the completion.
The emulator logs every call it receives (`GET /_emulator/requests`); each check waits until the gateway's
background work (filling the stock, deleting used chats) has landed, then reads what one answer cost."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.processes import Service, emulator_accounts, start_emulator, start_gateway

NEW = "POST /api/v2/chats/new"
COMPLETE = "POST /api/v2/chat/completions"
DELETE = "DELETE /api/v2/chats/{id}"
LISTING = "GET /api/models"


@pytest.fixture(scope="module")
def emulator() -> Iterator[Service]:
    service = start_emulator("--seed", "11", accounts=1)
    yield service
    service.stop()


def account(emulator: Service) -> list[dict[str, Any]]:
    return emulator_accounts(emulator, 1, id="emu0", max_concurrent=8)


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ready-chats")


@pytest.fixture(scope="module")
def gateway(emulator: Service, state_dir: Path) -> Iterator[Service]:
    service = start_gateway({"STORE_URL": f"sqlite:///{state_dir / 'state.db'}"}, accounts=account(emulator))
    yield service
    service.stop()


def calls(emulator: Service) -> list[dict[str, Any]]:
    response = httpx.get(f"{emulator.url}/_emulator/requests", timeout=5)
    response.raise_for_status()
    return list(response.json()["requests"])


def wait_for(emulator: Service, done: Callable[[Counter[str]], bool], since: int = 0) -> list[dict[str, Any]]:
    """The calls after `since` once `done(their counts)` holds (within a generous deadline)."""
    deadline = time.monotonic() + 30
    while True:
        seen = calls(emulator)[since:]
        counts = Counter(entry["route"] for entry in seen)
        if done(counts):
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"the emulator saw {dict(counts)}")
        time.sleep(0.05)


def ask(gateway: Service, stream: bool, text: str = "ready or not") -> str:
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
    messages = [{"role": "user", "content": text}]
    if stream:
        pieces = client.chat.completions.create(model="qwen3-max", messages=messages, stream=True)  # type: ignore[arg-type]
        return "".join(chunk.choices[0].delta.content or "" for chunk in pieces if chunk.choices)
    answer = client.chat.completions.create(model="qwen3-max", messages=messages)  # type: ignore[arg-type]
    return answer.choices[0].message.content or ""


def settled(answers: int, made: int) -> Callable[[Counter[str]], bool]:
    """`answers` completions, `made` chats made and every used chat deleted."""
    return lambda c: c[COMPLETE] == answers and c[NEW] == made and c[DELETE] == answers


def test_in_steady_state_the_completion_is_the_only_call_before_the_first_token(
    emulator: Service, gateway: Service
) -> None:
    start = len(calls(emulator))
    assert "ready or not" in ask(gateway, stream=False)  # cold: its chat is made on the spot, then 2 ahead
    first = wait_for(emulator, settled(1, 3), start)
    before = [e["route"] for e in first[: [e["route"] for e in first].index(COMPLETE)]]
    assert before.count(NEW) == 1
    for number in range(4):
        mark = len(calls(emulator))
        assert "ready or not" in ask(gateway, stream=number % 2 == 1)
        seen = wait_for(emulator, settled(1, 1), mark)
        # the completion came first; the chat for the next answer and the deletion of this one came after
        assert seen[0]["route"] == COMPLETE, seen
        assert sorted(e["route"] for e in seen) == sorted([COMPLETE, NEW, DELETE])


def test_a_ready_chat_the_upstream_refuses_is_replaced_by_a_fresh_one(
    emulator: Service, gateway: Service, state_dir: Path
) -> None:
    import asyncio

    from qwen_server.providers.qwen_web.ready_chats import queue_name, ticket
    from qwen_server.store.sqlite import SQLiteStore

    ask(gateway, stream=False)  # the stock is there (and stays at 2)
    wait_for(emulator, lambda c: c[NEW] >= 3)

    async def replace_stock() -> list[str]:
        store = SQLiteStore(state_dir / "state.db")
        await store.ping()
        name = queue_name("emu0", "qwen3-max", "t2t")
        taken = []
        while (raw := await store.queue_pop(name)) is not None:
            taken.append(raw)
        await store.queue_push(name, ticket(time.time(), "deleted-in-the-web-app"), 600, 10)
        await store.close()
        return taken

    assert len(asyncio.run(replace_stock())) == 2
    mark = len(calls(emulator))
    assert "still answered" in ask(gateway, stream=True, text="still answered")
    seen = wait_for(emulator, lambda c: c[COMPLETE] == 2 and c[NEW] >= 1 and c[DELETE] >= 1, mark)
    completions = [e for e in seen if e["route"] == COMPLETE]
    assert completions[0]["chat_id"] == "deleted-in-the-web-app"
    routes = [e["route"] for e in seen]
    assert routes[:3] == [COMPLETE, NEW, COMPLETE]  # refused, a chat made, answered in it


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_a_cold_instance_answers_in_a_chat_another_instance_made(
    emulator: Service, state_dir: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{state_dir / 'shared.db'}"
        cold_url = url
    else:
        from tests.services import redis_binary, redis_url_with

        if redis_binary() is None:
            pytest.skip("redis-server is not installed")
        url = cold_url = redis_url_with(request.getfixturevalue("redis_url"), prefix="ready:")
    first = start_gateway({"STORE_URL": url}, accounts=account(emulator))
    try:
        start = len(calls(emulator))
        ask(first, stream=False)
        wait_for(emulator, lambda c: c[NEW] == 3 and c[DELETE] == 1, start)
    finally:
        first.stop()
    cold = start_gateway({"STORE_URL": cold_url}, accounts=account(emulator))
    try:
        mark = len(calls(emulator))
        assert "ready or not" in ask(cold, stream=True)
        seen = wait_for(emulator, lambda c: c[COMPLETE] == 1 and c[DELETE] == 1, mark)
        before = [e["route"] for e in seen[: [e["route"] for e in seen].index(COMPLETE)]]
        # no sign-in (the token is shared) and no chat made: only this instance's first model listing
        assert set(before) <= {LISTING}, before
    finally:
        cold.stop()


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    from tests.services import redis_service

    with redis_service() as url:
        yield url


def test_ready_chats_nobody_uses_are_deleted_upstream(emulator: Service) -> None:
    gateway = start_gateway({"READY_CHAT_SECONDS": "1"}, accounts=account(emulator))
    try:
        start = len(calls(emulator))
        ask(gateway, stream=False)
        # the used chat, then the two made ahead once they are a second old (the sweep runs every half)
        seen = wait_for(emulator, lambda c: c[NEW] == 3 and c[DELETE] == 3, start)
        assert Counter(e["route"] for e in seen)[NEW] == 3  # an idle gateway makes no more
    finally:
        gateway.stop()
