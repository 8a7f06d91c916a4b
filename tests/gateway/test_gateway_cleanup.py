"""Every attempt's cleanup completes: whatever the provider raises, before or after its first event, and
however the consumer goes away, including Starlette's way (an anyio cancel scope that re-delivers the
cancellation at every await inside it). Run on SQLite and Redis, whose awaits are real."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from qwen_server.core import cleanup
from qwen_server.core.catalog import ModelCatalog
from qwen_server.core.errors import UpstreamError
from qwen_server.core.model import ChatRequest, Event, Message, TextDelta, TextPart
from qwen_server.gateway import Gateway
from qwen_server.pool.pool import AccountPool
from qwen_server.pool.state import slots_key
from qwen_server.providers.base import Account, ModelInfo
from qwen_server.scheduler import ClassLimits, FairScheduler
from qwen_server.store import open_store
from qwen_server.store.base import Store
from tests.pool.support import ListRegistry, account
from tests.waiting import until


class Scripted:
    """A provider that yields `before` events, then raises `error` (or hangs when `hang`)."""

    native_tools = False

    def __init__(self) -> None:
        self.before = 0
        self.error: BaseException | None = None
        self.hang = False
        self.opened = 0
        self.closed = 0

    async def stream(self, request: ChatRequest, account: Account) -> AsyncIterator[Event]:
        self.opened += 1
        try:
            for i in range(self.before):
                yield TextDelta(f"{i} ")
            if self.hang:
                await asyncio.sleep(3600)
            if self.error is not None:
                raise self.error
        finally:
            # a real close awaits (the HTTP response): providers finish it even while being cancelled
            await cleanup.complete(self._close())

    async def _close(self) -> None:
        await asyncio.sleep(0.01)
        self.closed += 1

    async def list_models(self, account: Account) -> list[ModelInfo]:
        return [ModelInfo("m")]


@pytest.fixture(params=["sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        from tests.services import redis_binary, redis_url_with

        if redis_binary() is None:
            pytest.skip("redis-server is not installed")
        url = redis_url_with(request.getfixturevalue("redis_server"), db=6)
    opened = open_store(url)
    await opened.ping()
    for key in await opened.scan(""):
        await opened.delete(key)
    yield opened
    await opened.close()


@pytest.fixture(scope="module")
def redis_server() -> AsyncIterator[str]:
    from tests.services import redis_service

    with redis_service() as url:
        yield url  # type: ignore[misc]


def build(store: Store, provider: Scripted) -> Gateway:
    pool = AccountPool(ListRegistry([account("a", max_concurrent=1)]), store)
    scheduler = FairScheduler(store, {"chat": ClassLimits(4, 10, 5.0)})
    pool.on_release(scheduler.wake)
    return Gateway(pool, scheduler, {"qwen-web": provider}, ModelCatalog(None, "m"))  # type: ignore[dict-item]


def request() -> ChatRequest:
    return ChatRequest(model="m", messages=[Message("user", [TextPart("hi")])], stream=True)


async def settled(store: Store, provider: Scripted) -> None:
    async def freed() -> bool:
        return (
            not cleanup.pending()
            and await store.lease_count(slots_key("a")) == 0
            and await store.lease_count("sched:chat") == 0
            and provider.closed == provider.opened
        )

    try:
        await until(freed)
    except AssertionError:
        raise AssertionError(
            f"slots: account {await store.lease_count(slots_key('a'))}, class {await store.lease_count('sched:chat')}; "
            f"opened {provider.opened} closed {provider.closed}"
        ) from None


@pytest.mark.parametrize("before", [0, 2])
@pytest.mark.parametrize("error", [RuntimeError("a bug"), UpstreamError("502")])
async def test_a_provider_failure_of_any_type_frees_the_slot(
    store: Store, before: int, error: BaseException
) -> None:
    provider = Scripted()
    provider.before, provider.error = before, error
    gateway = build(store, provider)
    with pytest.raises(type(error)):
        async for _ in gateway.stream(request()):
            pass
    await settled(store, provider)
    # and the account answers again at once (its single slot is free)
    provider.error, provider.before = None, 2
    events = [e async for e in gateway.stream(request())]
    assert any(isinstance(e, TextDelta) for e in events)
    await settled(store, provider)


async def test_a_cancelled_stream_frees_everything_under_level_triggered_cancellation(store: Store) -> None:
    provider = Scripted()
    provider.before, provider.hang = 2, True
    gateway = build(store, provider)
    for _ in range(4):  # four aborts used to lock an account for the lease time
        streaming = asyncio.Event()

        async def consume(started: asyncio.Event) -> None:
            count = 0
            async for _event in gateway.stream(request()):
                count += 1
                if count == 2:
                    started.set()

        async with anyio.create_task_group() as group:
            group.start_soon(consume, streaming)
            await streaming.wait()
            group.cancel_scope.cancel()  # what Starlette does when the client disconnects
        await settled(store, provider)


async def test_a_consumer_that_stops_early_frees_everything(store: Store) -> None:
    provider = Scripted()
    provider.before, provider.hang = 3, True
    gateway = build(store, provider)
    events = gateway.stream(request())
    assert isinstance(await anext(events), TextDelta)
    await events.aclose()  # what a route does when its client is gone
    await settled(store, provider)


class BreaksOnce(Scripted):
    """Yields two pieces then raises on its first stream; every later stream answers in full."""

    async def stream(self, request: ChatRequest, account: Account) -> AsyncIterator[Event]:
        self.error = UpstreamError("dropped") if self.opened == 0 else None
        self.before = 2 if self.opened == 0 else 3
        async for event in super().stream(request, account):
            yield event


async def test_a_continued_answer_frees_every_slot_and_its_retry(store: Store) -> None:
    provider = BreaksOnce()
    pool = AccountPool(ListRegistry([account("a", max_concurrent=1), account("b", max_concurrent=1)]), store)
    scheduler = FairScheduler(store, {"chat": ClassLimits(4, 10, 5.0)})
    pool.on_release(scheduler.wake)
    gateway = Gateway(pool, scheduler, {"qwen-web": provider}, ModelCatalog(None, "m"))  # type: ignore[dict-item]
    events = [e async for e in gateway.stream(request())]
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == "0 1 2 "  # the second account starts over ("0 1 2 "): its repeat of "0 1 " is removed
    assert gateway.failover_snapshot()["continued_ok"] == 1

    async def freed() -> bool:
        counts = [await store.lease_count(slots_key(a)) for a in ("a", "b")]
        return not cleanup.pending() and counts == [0, 0] and await store.lease_count("sched:chat") == 0

    await until(freed, what="every slot freed")
    assert provider.closed == provider.opened == 2
    assert (pool.retries.active, pool.retries.retrying) == (0, 0)


class SlowReplies:
    """The real store, whose `lease_acquire` reply comes only once `answer` is set, after the write was applied,
    as over a network (the window in which a request may be cancelled holding a slot it never learnt of)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.answer = asyncio.Event()

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    async def lease_acquire(self, group: str, holder: str, limit: int, ttl: float) -> bool:
        taken = await self._store.lease_acquire(group, holder, limit, ttl)
        await self.answer.wait()
        return taken


async def test_a_request_that_leaves_while_its_slot_is_being_taken_gives_it_back(store: Store) -> None:
    slow = SlowReplies(store)
    pool = AccountPool(ListRegistry([account("a", max_concurrent=1)]), slow)  # type: ignore[arg-type]
    choosing = asyncio.create_task(pool.choose("m"))
    await until(lambda: _count_is(store, slots_key("a"), 1))  # the store has granted the slot...
    choosing.cancel()  # ...and the request leaves before the answer arrives
    slow.answer.set()
    with pytest.raises(asyncio.CancelledError):
        await choosing

    async def given_back() -> bool:
        return await _count_is(store, slots_key("a"), 0) and not cleanup.pending()

    await until(given_back, what="the slot granted after the request left is given back")
    again = await pool.choose("m")  # and the account's one slot is free for the next request at once
    assert again is not None
    await pool.release(again)


async def _count_is(store: Store, group: str, n: int) -> bool:
    return await store.lease_count(group) == n
