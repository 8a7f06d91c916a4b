"""FairScheduler behaviour in one process: several scheduler instances over one store act like several
processes (the store is the only thing they share)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from typing import Any

import pytest

from qwen_server.config import Settings
from qwen_server.core.errors import Overloaded, StoreUnavailable
from qwen_server.scheduler import ClassLimits, FairScheduler, build_scheduler
from qwen_server.store.base import Store
from qwen_server.store.memory import MemoryStore
from tests.fake_clock import FakeClock
from tests.waiting import until

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


async def hold(
    s: FairScheduler, tenant: str, seconds: float = 0, log: list[str] | None = None, until: asyncio.Event | None = None
) -> None:
    """Hold a slot for `seconds`, or until `until` is set (a test that needs the slot held for a while)."""
    async with s.admit("chat", tenant):
        if log is not None:
            log.append(tenant)
        if until is not None:
            await until.wait()
        else:
            await asyncio.sleep(seconds)


class CountingStore(MemoryStore):
    """The memory store, counting the reads a dispatcher makes and the renewals of held slots."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        super().__init__(clock) if clock is not None else super().__init__()
        self.head_reads = 0
        self.renewals = 0

    async def queue_head(self, queue: str, n: int) -> list[str]:
        self.head_reads += 1
        return await super().queue_head(queue, n)

    async def lease_renew(self, group: str, holder: str, ttl: float) -> bool:
        renewed = await super().lease_renew(group, holder, ttl)
        self.renewals += 1
        return renewed


async def looked_again(store: CountingStore, times: int = 3) -> None:
    """Let the dispatchers read the queue `times` more times: what they would do, they have done."""
    seen = store.head_reads
    await until(lambda: _at_least(store.head_reads, seen + times))


async def renewed_once_more(store: CountingStore) -> None:
    seen = store.renewals
    await until(lambda: _at_least(store.renewals, seen + 1))


async def _at_least(value: int, n: int) -> bool:
    return value >= n


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
    s = make(MemoryStore(), concurrent=1, queue=1, timeout=600)
    schedulers.append(s)
    release = asyncio.Event()
    holder = asyncio.create_task(hold(s, "t", until=release))
    await until(lambda: s.store.lease_count(GROUP))
    waiter = asyncio.create_task(hold(s, "t"))
    await until(lambda: s.store.queue_len(QUEUE))
    with pytest.raises(Overloaded) as info:
        await asyncio.wait_for(hold(s, "t"), 30)  # at once, not after the 600 s queue timeout
    assert (info.value.status, info.value.code, info.value.retry_after) == (429, "queue_full", 1.0)
    release.set()
    await asyncio.gather(holder, waiter)
    snap = (await s.snapshot())["chat"]
    assert (snap["admitted"], snap["rejected"], snap["queue_full"]) == (2, 1, 1)


async def test_wait_timeout_removes_the_ticket(schedulers: list[FairScheduler]) -> None:
    s = make(MemoryStore(), concurrent=1, timeout=0.1)
    schedulers.append(s)
    release = asyncio.Event()
    holder = asyncio.create_task(hold(s, "t", until=release))
    await until(lambda: s.store.lease_count(GROUP))
    with pytest.raises(Overloaded) as info:
        await hold(s, "t")
    assert info.value.code == "queue_timeout" and info.value.status == 429 and info.value.retry_after
    assert await s.store.queue_len(QUEUE) == 0
    release.set()
    await holder
    assert (await s.snapshot())["chat"]["timed_out"] == 1


async def test_cancelled_waiter_leaves_the_queue_and_leaks_nothing(schedulers: list[FairScheduler]) -> None:
    s = make(MemoryStore(), concurrent=1)
    schedulers.append(s)
    release = asyncio.Event()
    holder = asyncio.create_task(hold(s, "t", until=release))
    await until(lambda: s.store.lease_count(GROUP))
    waiter = asyncio.create_task(hold(s, "t"))
    await until(lambda: s.store.queue_len(QUEUE))
    waiter.cancel()  # the client went away
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await until(lambda: _is_zero(s.store.queue_len(QUEUE)))
    release.set()
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
    release = asyncio.Event()
    first = asyncio.create_task(hold(instances[0], "first", log=order, until=release))
    await until(lambda: store.lease_count(GROUP))
    tasks = []
    for i in range(9):
        tasks.append(asyncio.create_task(hold(instances[i % 3], f"w{i}", 0.002, order)))
        await until(functools.partial(_queued, store, i + 1))  # queued in this order
    release.set()
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
    clock = FakeClock()
    store = CountingStore(clock)
    doomed = make(store, concurrent=1, timeout=600, lease_ttl=30, ticket_ttl=600, clock=clock)
    survivor = make(store, concurrent=1, timeout=600, lease_ttl=30, ticket_ttl=600, clock=clock)
    schedulers += [doomed, survivor]
    victim = asyncio.create_task(hold(doomed, "t", 600))
    await until(lambda: store.lease_count(GROUP))
    await doomed.aclose()  # no more renewals: like a SIGKILLed process, nothing is released
    waiting = asyncio.create_task(hold(survivor, "t"))
    await until(lambda: store.queue_len(QUEUE))
    clock.advance(29)
    await looked_again(store)
    assert not waiting.done() and await store.lease_count(GROUP) == 1  # the dead slot lives out its TTL...
    clock.advance(2)
    await asyncio.wait_for(waiting, 30)  # ...and then comes back
    victim.cancel()


async def test_leases_are_renewed_while_held(schedulers: list[FairScheduler]) -> None:
    clock = FakeClock()
    store = CountingStore(clock)
    s = make(store, concurrent=1, lease_ttl=0.3)  # renewed every 0.1 s of real time
    schedulers.append(s)
    release = asyncio.Event()
    task = asyncio.create_task(hold(s, "t", until=release))
    await until(lambda: store.lease_count(GROUP))
    for _ in range(10):  # 2 s pass for the store, far beyond the 0.3 s TTL: only renewals keep the slot
        clock.advance(0.2)
        await renewed_once_more(store)
        assert await store.lease_count(GROUP) == 1
    release.set()
    await task
    assert (await s.snapshot())["chat"]["leases_lost"] == 0


async def test_local_release_wakes_a_waiter_at_once(schedulers: list[FairScheduler]) -> None:
    store = CountingStore()
    s = make(store, concurrent=1, timeout=600, poll_min=600, poll_max=600)  # polling alone would take 10 min
    schedulers.append(s)
    gate = asyncio.Event()
    holder = asyncio.create_task(hold(s, "t", until=gate))
    await until(lambda: s.store.lease_count(GROUP))
    waiter = asyncio.create_task(hold(s, "t"))
    await until(lambda: s.store.queue_len(QUEUE))
    await until(lambda: _at_least(store.head_reads, 1))  # the dispatcher has looked once and gone to sleep
    gate.set()
    await asyncio.wait_for(asyncio.gather(holder, waiter), 30)


async def test_snapshot_reports_global_and_local_numbers(schedulers: list[FairScheduler]) -> None:
    store, clock = MemoryStore(), FakeClock()
    a, b = make(store, concurrent=1, timeout=600), make(store, concurrent=1, timeout=600, clock=clock)
    schedulers += [a, b]
    release = asyncio.Event()
    holder = asyncio.create_task(hold(a, "t", until=release))
    await until(lambda: store.lease_count(GROUP))
    waiter = asyncio.create_task(hold(b, "t"))
    await until(lambda: store.queue_len(QUEUE))
    snap = (await b.snapshot())["chat"]
    assert snap["limit"] == 1 and snap["in_flight"] == 1 and snap["queued"] == 1
    assert snap["local_in_flight"] == 0 and snap["local_queued"] == 1 and snap["source"] == "store"
    clock.advance(2)  # the waiter waits 2 s on b's clock
    release.set()
    await asyncio.gather(holder, waiter)
    snap = (await b.snapshot())["chat"]
    assert snap["admitted"] == 1 and snap["wait_p50_ms"] == 2000


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
    s = make(store, concurrent=1, timeout=600)
    schedulers.append(s)
    release = asyncio.Event()
    holder = asyncio.create_task(hold(s, "t", until=release))
    await until(lambda: store.lease_count(GROUP))
    waiter = asyncio.create_task(hold(s, "t"))
    await until(lambda: store.queue_len(QUEUE))
    store.broken = True
    with pytest.raises(StoreUnavailable):
        await asyncio.wait_for(waiter, 30)  # the waiter learns within a few polls, not after its 600 s timeout
    with pytest.raises(StoreUnavailable):
        await hold(s, "t")  # new arrivals fail at once
    release.set()
    await holder  # releasing into a dead store does not raise: the lease lapses on its TTL


def test_build_scheduler_reads_settings() -> None:
    settings = Settings(sched_chat_concurrent=7, sched_chat_queue=70, sched_chat_timeout=9.5)
    s = build_scheduler(MemoryStore(), settings)
    assert isinstance(s, FairScheduler)
    assert s._gates["chat"].limits == ClassLimits(7, 70, 9.5)
    assert set(s._gates) == {"chat", "media", "aux", "batch"}
    assert s._gates["media"].limits == ClassLimits(10, 100, 300.0)


async def test_a_dead_instance_ticket_does_not_block_the_head(schedulers: list[FairScheduler]) -> None:
    store, clock = CountingStore(), FakeClock()
    s = make(store, concurrent=1, timeout=600, stall_grace=5, clock=clock)
    schedulers.append(s)
    release = asyncio.Event()
    holder = asyncio.create_task(hold(s, "t", until=release))
    await until(lambda: store.lease_count(GROUP))
    await store.queue_push(QUEUE, "ghost-1.t", 60, 10)  # queued by a process that then died
    waiter = asyncio.create_task(hold(s, "t"))
    await until(lambda: _queued(store, 2))
    release.set()
    await holder
    await looked_again(store)  # the dispatcher has seen the free slot go to the ghost
    clock.advance(4)
    await looked_again(store)
    assert not waiter.done()  # the ghost is next: within its grace it may still come for its slot
    clock.advance(2)
    await asyncio.wait_for(waiter, 30)  # passed over after the grace, not after the ghost's 60 s TTL
    assert await store.queue_head(QUEUE, 5) == ["ghost-1.t"]  # ...and left to lapse on its TTL


async def test_wait_budget_follows_the_injected_clock(schedulers: list[FairScheduler]) -> None:
    clock = FakeClock()
    s = make(MemoryStore(), concurrent=1, timeout=600, clock=clock)
    schedulers.append(s)
    release = asyncio.Event()
    holder = asyncio.create_task(hold(s, "t", until=release))
    await until(lambda: s.store.lease_count(GROUP))
    waiter = asyncio.create_task(hold(s, "t"))
    await asyncio.sleep(0)  # the waiter reads its start time
    clock.advance(601)  # its whole budget has passed on the scheduler's clock while it was queueing
    with pytest.raises(Overloaded) as info:
        await asyncio.wait_for(waiter, 30)  # decided by the injected clock, not by 600 real seconds
    assert info.value.code == "queue_timeout"
    release.set()
    await holder
