"""FairScheduler behaviour in one process: several scheduler instances over one store act like several
processes (the store is the only thing they share)."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from qwen_server.config import Settings
from qwen_server.core.errors import Overloaded, StoreUnavailable
from qwen_server.scheduler import ClassLimits, FairScheduler, build_scheduler
from qwen_server.store.base import Store
from qwen_server.store.memory import MemoryStore

GROUP, QUEUE = "sched:chat", "sched:chat"


def make(
    store: Store, concurrent: int = 2, queue: int = 10, timeout: float = 5.0, **kw: Any
) -> FairScheduler:
    return FairScheduler(store, {"chat": ClassLimits(concurrent, queue, timeout)}, **kw)


@pytest.fixture
async def schedulers() -> AsyncIterator[list[FairScheduler]]:
    made: list[FairScheduler] = []
    yield made
    for s in made:
        await s.aclose()


async def hold(s: FairScheduler, tenant: str, seconds: float, log: list[str] | None = None) -> None:
    async with s.admit("chat", tenant):
        if log is not None:
            log.append(tenant)
        await asyncio.sleep(seconds)


async def until(predicate: Callable[[], Any], within: float = 3.0) -> None:
    deadline = time.monotonic() + within
    while not await predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


async def test_cap_holds_across_instances(schedulers: list[FairScheduler]) -> None:
    store = MemoryStore()
    a, b = make(store, concurrent=3, queue=50), make(store, concurrent=3, queue=50)
    schedulers += [a, b]
    inside = peak = 0

    async def one(s: FairScheduler) -> None:
        nonlocal inside, peak
        async with s.admit("chat", "t"):
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0.005)
            inside -= 1

    await asyncio.gather(*(one(a if i % 2 else b) for i in range(40)))
    assert peak == 3
    assert await store.lease_count(GROUP) == 0 and await store.queue_len(QUEUE) == 0


async def test_full_queue_answers_429_at_once(schedulers: list[FairScheduler]) -> None:
    s = make(MemoryStore(), concurrent=1, queue=1)
    schedulers.append(s)
    holder = asyncio.create_task(hold(s, "t", 0.3))
    waiter = asyncio.create_task(hold(s, "t", 0))
    await until(lambda: s.store.queue_len(QUEUE))
    started = time.monotonic()
    with pytest.raises(Overloaded) as info:
        await hold(s, "t", 0)
    assert time.monotonic() - started < 2.0  # not after the 5 s queue timeout
    assert (info.value.status, info.value.code, info.value.retry_after) == (429, "queue_full", 1.0)
    await asyncio.gather(holder, waiter)
    snap = (await s.snapshot())["chat"]
    assert (snap["admitted"], snap["rejected"], snap["queue_full"]) == (2, 1, 1)


async def test_wait_timeout_removes_the_ticket(schedulers: list[FairScheduler]) -> None:
    s = make(MemoryStore(), concurrent=1, timeout=0.1)
    schedulers.append(s)
    holder = asyncio.create_task(hold(s, "t", 0.4))
    await until(lambda: s.store.lease_count(GROUP))
    with pytest.raises(Overloaded) as info:
        await hold(s, "t", 0)
    assert info.value.code == "queue_timeout" and info.value.status == 429 and info.value.retry_after
    assert await s.store.queue_len(QUEUE) == 0
    await holder
    assert (await s.snapshot())["chat"]["timed_out"] == 1


async def test_cancelled_waiter_leaves_the_queue_and_leaks_nothing(schedulers: list[FairScheduler]) -> None:
    s = make(MemoryStore(), concurrent=1)
    schedulers.append(s)
    holder = asyncio.create_task(hold(s, "t", 0.2))
    await until(lambda: s.store.lease_count(GROUP))
    waiter = asyncio.create_task(hold(s, "t", 0))
    await until(lambda: s.store.queue_len(QUEUE))
    waiter.cancel()  # the client went away
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await until(lambda: _is_zero(s.store.queue_len(QUEUE)))
    await holder
    assert await s.store.lease_count(GROUP) == 0
    await hold(s, "t", 0)  # the slot is usable again


async def _is_zero(value: Any) -> bool:
    return await value == 0


async def test_cancelled_holder_releases_its_slot(schedulers: list[FairScheduler]) -> None:
    s = make(MemoryStore(), concurrent=1)
    schedulers.append(s)
    task = asyncio.create_task(hold(s, "t", 10))
    await until(lambda: s.store.lease_count(GROUP))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await s.store.lease_count(GROUP) == 0


async def test_fifo_across_instances(schedulers: list[FairScheduler]) -> None:
    store = MemoryStore()
    instances = [make(store, concurrent=1, queue=50) for _ in range(3)]
    schedulers += instances
    order: list[str] = []
    first = asyncio.create_task(hold(instances[0], "first", 0.1, order))
    await until(lambda: store.lease_count(GROUP))
    tasks = []
    for i in range(9):
        tasks.append(asyncio.create_task(hold(instances[i % 3], f"w{i}", 0.002, order)))
        await until(functools.partial(_queued, store, i + 1))  # queued in this order
    await asyncio.gather(first, *tasks)
    assert order == ["first"] + [f"w{i}" for i in range(9)]


async def _len_is(value: Any, n: int) -> bool:
    return await value == n


async def _queued(store: Store, n: int) -> bool:
    return await store.queue_len(QUEUE) == n


async def test_tenant_over_its_share_yields_to_a_waiting_tenant(schedulers: list[FairScheduler]) -> None:
    store = MemoryStore()
    s = make(store, concurrent=4, queue=50)
    schedulers.append(s)
    order: list[str] = []
    releases = [asyncio.Event() for _ in range(4)]

    async def hog(release: asyncio.Event) -> None:
        async with s.admit("chat", "big"):
            await release.wait()

    hogs = [asyncio.create_task(hog(r)) for r in releases]  # big holds every slot
    await until(lambda: _len_is(store.lease_count(GROUP), 4))
    more_big = [asyncio.create_task(hold(s, "big", 0.01, order)) for _ in range(3)]
    await until(lambda: _len_is(store.queue_len(QUEUE), 3))
    small = asyncio.create_task(hold(s, "small", 0.01, order))
    await until(lambda: _len_is(store.queue_len(QUEUE), 4))
    releases[0].set()  # one slot frees up
    await until(lambda: _len_is(store.queue_len(QUEUE), 3))
    for r in releases[1:]:
        r.set()
    await asyncio.gather(*hogs, *more_big, small)
    assert order[0] == "small"  # queued last, served first: big was at its share (4 / 2 tenants)


async def test_killed_instance_slots_come_back_within_the_lease_ttl(schedulers: list[FairScheduler]) -> None:
    store = MemoryStore()
    doomed = make(store, concurrent=1, lease_ttl=0.3)
    survivor = make(store, concurrent=1, lease_ttl=0.3)
    schedulers += [doomed, survivor]
    victim = asyncio.create_task(hold(doomed, "t", 60))
    await until(lambda: store.lease_count(GROUP))
    await doomed.aclose()  # no more renewals: like a SIGKILLed process, nothing is released
    started = time.monotonic()
    await hold(survivor, "t", 0)
    waited = time.monotonic() - started
    assert 0.1 < waited < 0.3 + 0.2
    victim.cancel()


async def test_leases_are_renewed_while_held(schedulers: list[FairScheduler]) -> None:
    store = MemoryStore()
    s = make(store, concurrent=1, lease_ttl=0.15)
    schedulers.append(s)
    task = asyncio.create_task(hold(s, "t", 0.6))
    await until(lambda: store.lease_count(GROUP))
    for _ in range(10):
        await asyncio.sleep(0.05)
        assert await store.lease_count(GROUP) == 1
    await task
    assert (await s.snapshot())["chat"]["leases_lost"] == 0


async def test_local_release_wakes_a_waiter_at_once(schedulers: list[FairScheduler]) -> None:
    s = make(MemoryStore(), concurrent=1, poll_min=2.0, poll_max=2.0)  # polling alone would take 2 s
    schedulers.append(s)
    gate = asyncio.Event()

    async def first() -> None:
        async with s.admit("chat", "t"):
            await gate.wait()

    holder = asyncio.create_task(first())
    await until(lambda: s.store.lease_count(GROUP))
    waiter = asyncio.create_task(hold(s, "t", 0))
    await until(lambda: s.store.queue_len(QUEUE))
    await asyncio.sleep(0.05)  # the dispatcher has looked once and gone to sleep
    started = time.monotonic()
    gate.set()
    await asyncio.gather(holder, waiter)
    assert time.monotonic() - started < 0.2


async def test_snapshot_reports_global_and_local_numbers(schedulers: list[FairScheduler]) -> None:
    store = MemoryStore()
    a, b = make(store, concurrent=1), make(store, concurrent=1)
    schedulers += [a, b]
    holder = asyncio.create_task(hold(a, "t", 0.2))
    await until(lambda: store.lease_count(GROUP))
    waiter = asyncio.create_task(hold(b, "t", 0))
    await until(lambda: store.queue_len(QUEUE))
    snap = (await b.snapshot())["chat"]
    assert snap["limit"] == 1 and snap["in_flight"] == 1 and snap["queued"] == 1
    assert snap["local_in_flight"] == 0 and snap["local_queued"] == 1 and snap["source"] == "store"
    await asyncio.gather(holder, waiter)
    snap = (await b.snapshot())["chat"]
    assert snap["admitted"] == 1 and snap["wait_p50_ms"] > 50


async def test_snapshot_reports_the_oldest_local_wait_by_the_injected_clock(
    schedulers: list[FairScheduler],
) -> None:
    store = MemoryStore()
    now = [1000.0]
    a, b = make(store, concurrent=1, clock=lambda: now[0]), make(store, concurrent=1, clock=lambda: now[0])
    schedulers += [a, b]
    release = asyncio.Event()

    async def held() -> None:
        async with a.admit("chat", "t"):
            await release.wait()

    holder = asyncio.create_task(held())
    await until(lambda: store.lease_count(GROUP))
    waiter = asyncio.create_task(hold(b, "t", 0))
    await until(lambda: store.queue_len(QUEUE))
    now[0] += 42.5
    assert (await b.snapshot())["chat"]["local_oldest_wait_s"] == 42.5
    assert (await a.snapshot())["chat"]["local_oldest_wait_s"] is None, "a waits for nobody"
    release.set()
    await asyncio.gather(holder, waiter)
    assert (await b.snapshot())["chat"]["local_oldest_wait_s"] is None


class BrokenStore(MemoryStore):
    """A store that fails every operation once `broken` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.broken = False

    def __getattribute__(self, name: str) -> Any:
        attr = super().__getattribute__(name)
        if name.startswith(("lease_", "queue_")) and super().__getattribute__("broken"):

            async def fail(*args: Any, **kwargs: Any) -> Any:
                raise StoreUnavailable("store down")

            return fail
        return attr


async def test_store_failure_is_a_503_not_a_hang(schedulers: list[FairScheduler]) -> None:
    store = BrokenStore()
    s = make(store, concurrent=1, timeout=30)
    schedulers.append(s)
    holder = asyncio.create_task(hold(s, "t", 0.3))
    await until(lambda: store.lease_count(GROUP))
    waiter = asyncio.create_task(hold(s, "t", 0))
    await until(lambda: store.queue_len(QUEUE))
    store.broken = True
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        await waiter  # the waiter learns within a few polls
    assert time.monotonic() - started < 2
    with pytest.raises(StoreUnavailable):
        await hold(s, "t", 0)  # new arrivals fail at once
    await holder  # releasing into a dead store does not raise: the lease lapses on its TTL


def test_build_scheduler_reads_settings() -> None:
    settings = Settings(sched_chat_concurrent=7, sched_chat_queue=70, sched_chat_timeout=9.5)
    s = build_scheduler(MemoryStore(), settings)
    assert isinstance(s, FairScheduler)
    assert s._gates["chat"].limits == ClassLimits(7, 70, 9.5)
    assert set(s._gates) == {"chat", "media", "aux", "batch"}
    assert s._gates["media"].limits == ClassLimits(10, 100, 300.0)


async def test_a_dead_instance_ticket_does_not_block_the_head(schedulers: list[FairScheduler]) -> None:
    store = MemoryStore()
    s = make(store, concurrent=1, stall_grace=0.2)
    schedulers.append(s)
    holder = asyncio.create_task(hold(s, "t", 0.05))
    await until(lambda: store.lease_count(GROUP))
    await store.queue_push(QUEUE, "ghost-1.t", 60, 10)  # queued by a process that then died
    started = time.monotonic()
    await asyncio.gather(holder, hold(s, "t", 0))
    assert 0.2 <= time.monotonic() - started < 1.0  # passed over after the grace, not after 60 s
    assert await store.queue_head(QUEUE, 5) == ["ghost-1.t"]  # ...and left to lapse on its TTL


async def test_wait_budget_follows_the_injected_clock(schedulers: list[FairScheduler]) -> None:
    now = [0.0]
    s = make(MemoryStore(), concurrent=1, timeout=5.0, clock=lambda: now[0])
    schedulers.append(s)
    holder = asyncio.create_task(hold(s, "t", 0.3))
    await until(lambda: s.store.lease_count(GROUP))
    waiter = asyncio.create_task(hold(s, "t", 0))
    await asyncio.sleep(0)  # the waiter reads its start time
    now[0] = 100.0  # its whole budget has passed on the scheduler's clock while it was queueing
    started = time.monotonic()
    with pytest.raises(Overloaded) as info:
        await waiter
    assert info.value.code == "queue_timeout"
    assert time.monotonic() - started < 2.0  # decided by the injected clock, not by 5 real seconds
    await holder
