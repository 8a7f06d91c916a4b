"""Account slots through the scheduler (`Claim`): a request that finds every account busy queues, and the
queue's order decides who gets the next free account. Run on memory, SQLite and Redis: cancellation bugs
hide on a store without real awaits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from qwen_server.core.errors import NotFound, Overloaded
from qwen_server.scheduler import ClassLimits, FairScheduler
from qwen_server.store import open_store
from qwen_server.store.base import Store
from tests.services import redis_url_with
from tests.waiting import until


class Slots:
    """A stand-in for the pool's account slots: `capacity` per key, counted exactly."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used: dict[str, int] = {}
        self.peak = 0
        self.given_back = 0
        self.fail_with: Exception | None = None

    def claim(self, key: str, name: str) -> Claimer:
        return Claimer(self, key, name)


class Claimer:
    def __init__(self, slots: Slots, key: str, name: str) -> None:
        self.slots, self.key, self.name = slots, key, name

    async def take(self) -> str | None:
        await asyncio.sleep(0)
        if self.slots.fail_with is not None:
            raise self.slots.fail_with
        if self.slots.used.get(self.key, 0) >= self.slots.capacity:
            return None
        self.slots.used[self.key] = self.slots.used.get(self.key, 0) + 1
        self.slots.peak = max(self.slots.peak, self.slots.used[self.key])
        return self.name

    async def give_back(self, value: str) -> None:
        self.slots.given_back += 1
        self.slots.used[self.key] -= 1

    async def offer(self) -> None:
        return None  # no slot to name up front: the scheduler takes it with `take`

    def deferred_release(self, value: str) -> None:
        return None

    def released(self, value: str) -> None:
        raise AssertionError("nothing was deferred")


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "memory":
        url = "memory://"
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        url = redis_url_with(request.getfixturevalue("redis_url"), db=5)
    opened = open_store(url)
    await opened.ping()
    if request.param == "redis":
        for key in await opened.scan("sched:"):
            await opened.delete(key)
    yield opened
    await opened.close()


def scheduler(store: Store, timeout: float = 5.0, concurrent: int = 50) -> FairScheduler:
    return FairScheduler(store, {"chat": ClassLimits(concurrent, 100, timeout)})


async def use(
    s: FairScheduler, slots: Slots, key: str, name: str, log: list[Any], release: asyncio.Event | None = None
) -> None:
    """One request: claims an account slot of `key`, holds it until `release` is set (if given), frees it."""
    claim = slots.claim(key, name)
    async with s.admit("chat", name.split(":")[0], claim) as got:
        log.append(got)
        if release is not None:
            await release.wait()
        await claim.give_back(got)  # the caller releases what it claimed (as the gateway's `record` does)
        slots.given_back -= 1
        s.wake()  # as the pool's release listener does


def arrived(store: Store, served: list[Any], n: int) -> Any:
    """Whether `n` requests have been served or queued (a request arrives once it is one or the other)."""

    async def check() -> bool:
        return len(served) + await store.queue_len("sched:chat") >= n

    return check


async def test_busy_accounts_queue_in_arrival_order(store: Store) -> None:
    s, slots, served = scheduler(store), Slots(capacity=2), []
    release = asyncio.Event()
    tasks = []
    for i in range(8):
        tasks.append(asyncio.create_task(use(s, slots, "m", f"t:{i}", served, release)))
        await until(arrived(store, served, i + 1))  # arrival order
    release.set()
    await asyncio.gather(*tasks)
    assert served == [f"t:{i}" for i in range(8)]
    assert slots.peak == 2
    assert slots.used["m"] == 0
    await s.aclose()


async def test_a_starved_key_does_not_hold_up_another(store: Store) -> None:
    s, slots, served = scheduler(store, timeout=600), Slots(capacity=1), []
    release = asyncio.Event()
    long = asyncio.create_task(use(s, slots, "busy", "a:0", served, release))
    await until(arrived(store, served, 1))
    waiting = asyncio.create_task(use(s, slots, "busy", "a:1", served))
    await until(arrived(store, served, 2))
    await asyncio.wait_for(use(s, slots, "free", "b:0", served), 30)  # not behind a:1, which waits for a:0
    assert served == ["a:0", "b:0"]
    release.set()
    await asyncio.gather(long, waiting)
    assert served == ["a:0", "b:0", "a:1"]
    await s.aclose()


async def test_a_tenant_holding_the_accounts_waits_behind_others(store: Store) -> None:
    s, slots, served = scheduler(store), Slots(capacity=2), []
    releases = [asyncio.Event() for _ in range(2)]
    hog = [asyncio.create_task(use(s, slots, "m", f"hog:{i}", served, releases[i])) for i in range(2)]
    await until(arrived(store, served, 2))
    more_hog = []
    for i in range(2, 6):
        more_hog.append(asyncio.create_task(use(s, slots, "m", f"hog:{i}", served)))
        await until(arrived(store, served, i + 1))
    other = asyncio.create_task(use(s, slots, "m", "small:0", served))
    await until(arrived(store, served, 7))
    releases[0].set()  # one account comes free
    await until(lambda: _at_least(served, 3))
    releases[1].set()
    await asyncio.gather(*hog, *more_hog, other)
    # the newcomer holds nothing while the hog holds every account: it is next, ahead of the older tickets
    assert served.index("small:0") == 2, served
    await s.aclose()


async def test_a_cancelled_waiter_leaves_nothing_behind(store: Store) -> None:
    s, slots, served = scheduler(store), Slots(capacity=1), []
    release = asyncio.Event()
    holder = asyncio.create_task(use(s, slots, "m", "a:0", served, release))
    await until(arrived(store, served, 1))
    gone = asyncio.create_task(use(s, slots, "m", "a:1", served))
    await until(arrived(store, served, 2))
    gone.cancel()
    await asyncio.gather(gone, return_exceptions=True)
    release.set()
    await holder
    await until(lambda: _nothing_held(store))
    assert served == ["a:0"]
    assert slots.used["m"] == 0
    await s.aclose()


async def test_a_timed_out_wait_names_the_account_slots(store: Store) -> None:
    s, slots, served = scheduler(store, timeout=0.3), Slots(capacity=1), []
    release = asyncio.Event()
    holder = asyncio.create_task(use(s, slots, "m", "a:0", served, release))
    await until(arrived(store, served, 1))
    with pytest.raises(Overloaded, match="account slot") as caught:
        await use(s, slots, "m", "a:1", served)
    assert caught.value.code == "queue_timeout" and caught.value.retry_after
    release.set()
    await holder
    assert slots.used["m"] == 0 and await store.queue_len("sched:chat") == 0
    await s.aclose()


async def test_a_claim_that_cannot_be_met_fails_the_waiter_at_once(store: Store) -> None:
    s, slots, served = scheduler(store, timeout=600), Slots(capacity=1), []
    release = asyncio.Event()
    holder = asyncio.create_task(use(s, slots, "m", "a:0", served, release))
    await until(arrived(store, served, 1))
    waiter = asyncio.create_task(use(s, slots, "m", "a:1", served))
    await until(arrived(store, served, 2))
    slots.fail_with = NotFound("no account serves 'm' any more")
    with pytest.raises(NotFound):
        await asyncio.wait_for(waiter, 30)  # at once, not after its 600 s wait
    slots.fail_with = None
    release.set()
    await holder
    assert await store.queue_len("sched:chat") == 0
    await s.aclose()


async def _at_least(items: list[Any], n: int) -> bool:
    return len(items) >= n


async def _nothing_held(store: Store) -> bool:
    return await store.queue_len("sched:chat") == 0 and await store.lease_count("sched:chat") == 0
