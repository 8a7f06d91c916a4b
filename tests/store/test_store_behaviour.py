"""One behavioural suite, run against every backend: each must behave like the memory reference."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from qwen_server.store import Store
from qwen_server.store.base import FIRST_REFUSED, PAIR_TAKEN, SECOND_REFUSED, Lease
from tests.store.timeline import Timeline

SHORT, LONG = Timeline.SHORT, Timeline.LONG


def absent(store: Store, key: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await store.get(key) is None

    return check


def not_holding(store: Store, group: str, holder: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return holder not in await store.lease_holders(group)

    return check


def not_queued(store: Store, queue: str, ticket: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await store.queue_position(queue, ticket) is None

    return check


# ---- key / value ------------------------------------------------------------------------------------
async def test_set_get_delete_roundtrip_binary(store: Store) -> None:
    assert await store.get("k") is None
    await store.set("k", b"\x00\xffvalue")
    assert await store.get("k") == b"\x00\xffvalue"
    await store.set("k", b"second")
    assert await store.get("k") == b"second"
    await store.delete("k")
    assert await store.get("k") is None
    await store.delete("k")  # deleting the absent is fine


async def test_ttl_makes_values_vanish(store: Store, timeline: Timeline) -> None:
    await store.set("short", b"1", ttl=LONG)
    await store.set("long", b"2", ttl=LONG)
    await store.set("forever", b"3")
    assert await store.get_many(["short", "long", "forever"]) == [b"1", b"2", b"3"]
    await store.set("short", b"1", ttl=SHORT)  # a write takes the new TTL, a shorter one too
    await timeline.lapse(absent(store, "short"))
    assert await store.get_many(["short", "long", "forever"]) == [None, b"2", b"3"]


async def test_get_many_keeps_order_and_duplicates(store: Store) -> None:
    await store.set("a", b"A")
    await store.set("b", b"B")
    assert await store.get_many(["b", "missing", "a", "b"]) == [b"B", None, b"A", b"B"]
    assert await store.get_many([]) == []


async def test_set_if_absent(store: Store, timeline: Timeline) -> None:
    assert await store.set_if_absent("lock", b"one", ttl=LONG)
    assert not await store.set_if_absent("lock", b"two", ttl=LONG)
    assert await store.get("lock") == b"one"
    assert await store.set_if_absent("brief", b"one", ttl=SHORT)
    await timeline.lapse(absent(store, "brief"))
    assert await store.set_if_absent("brief", b"three")  # an expired value counts as absent
    assert await store.get("brief") == b"three"
    assert await store.get("lock") == b"one"


async def test_compare_and_set(store: Store, timeline: Timeline) -> None:
    assert await store.compare_and_set("c", None, b"v1")
    assert not await store.compare_and_set("c", None, b"other")
    assert not await store.compare_and_set("c", b"wrong", b"other")
    assert await store.compare_and_set("c", b"v1", b"v2", ttl=LONG)
    assert await store.get("c") == b"v2"
    assert await store.compare_and_set("c", b"v2", b"v2", ttl=SHORT)
    await timeline.lapse(absent(store, "c"))
    assert not await store.compare_and_set("c", b"v2", b"stale")  # an expired value matches nothing
    assert await store.compare_and_set("c", None, b"fresh")
    assert await store.get("c") == b"fresh"


async def test_compare_and_set_is_atomic_under_concurrency(store: Store) -> None:
    async def bump(times: int) -> None:
        done = 0
        while done < times:
            raw = await store.get("n")
            if await store.compare_and_set("n", raw, str(int(raw or b"0") + 1).encode()):
                done += 1

    await asyncio.gather(*(bump(4) for _ in range(5)))
    assert await store.get("n") == b"20"


async def test_incr_counts_and_spells_numbers_one_way(store: Store) -> None:
    assert await store.incr("ctr") == 1
    assert await store.incr("ctr", 2) == 3
    assert await store.get("ctr") == b"3"
    assert await store.incr("ctr", 0.5) == 3.5
    assert await store.get("ctr") == b"3.5"
    assert await store.incr("ctr", -3.5) == 0
    assert await store.compare_and_set("ctr", b"0", b"10")
    assert await store.incr("ctr") == 11
    await store.set("text-number", b"5")
    assert await store.incr("text-number") == 6


async def test_incr_ttl_resets_and_expired_counter_restarts(store: Store, timeline: Timeline) -> None:
    assert await store.incr("win", ttl=LONG) == 1
    assert await store.incr("win", ttl=SHORT) == 2  # a ttl resets the expiry to now + ttl, a shorter one too
    assert await store.incr("forever") == 1
    await timeline.lapse(absent(store, "win"))
    assert await store.get_many(["win", "forever"]) == [None, b"1"]
    assert await store.incr("win") == 1  # an expired counter restarts from zero


async def test_incr_without_ttl_keeps_the_counters_expiry(store: Store, timeline: Timeline) -> None:
    assert await store.incr("kept", ttl=LONG) == 1
    assert await store.incr("kept") == 2
    assert await store.incr("forever") == 1
    assert await store.incr("forever", 2) == 3
    assert await timeline.lapses_within(store, "kept", LONG + 1)
    assert not await timeline.lapses_within(store, "forever", LONG + 1)


async def test_incr_is_atomic_under_concurrent_tasks(store: Store) -> None:
    await asyncio.gather(*(store.incr("hits") for _ in range(60)))
    assert await store.get("hits") == b"60"


async def test_scan_prefix_lists_live_matches_only(store: Store, timeline: Timeline) -> None:
    await store.set("file:a*[1]", b"1")
    await store.set("file:b", b"2", ttl=LONG)
    await store.set("file:gone", b"3", ttl=SHORT)
    await store.set("files-other", b"4")
    await store.set("batch:x", b"5")
    await timeline.lapse(absent(store, "file:gone"))
    assert await store.scan("file:") == {"file:a*[1]": b"1", "file:b": b"2"}
    assert await store.scan("file:a*") == {"file:a*[1]": b"1"}  # glob characters are literal
    assert await store.scan("nothing:") == {}


# ---- leases -----------------------------------------------------------------------------------------
async def test_lease_cap_reacquire_release_and_holders(store: Store) -> None:
    assert await store.lease_acquire("g", "h1", 2, 30)
    assert await store.lease_acquire("g", "h2", 2, 30)
    assert not await store.lease_acquire("g", "h3", 2, 30)
    assert await store.lease_acquire("g", "h1", 2, 30)  # a holder's second acquire does not take a slot
    assert await store.lease_count("g") == 2
    assert sorted(await store.lease_holders("g")) == ["h1", "h2"]
    await store.lease_release("g", "h1")
    await store.lease_release("g", "h1")
    assert await store.lease_acquire("g", "h3", 2, 30)
    assert sorted(await store.lease_holders("g")) == ["h2", "h3"]
    assert await store.lease_count("other") == 0


async def test_lease_expiry_and_renew(store: Store, timeline: Timeline) -> None:
    assert await store.lease_acquire("g", "keeps", 2, LONG)
    assert await store.lease_acquire("g", "lapses", 2, LONG)
    assert await store.lease_renew("g", "keeps", LONG)  # a renewal sets the expiry to now + ttl...
    assert await store.lease_renew("g", "lapses", SHORT)  # ...a shorter one too
    await timeline.lapse(not_holding(store, "g", "lapses"))
    assert await store.lease_holders("g") == ["keeps"]
    assert not await store.lease_renew("g", "lapses", LONG)
    assert await store.lease_acquire("g", "new", 2, LONG)  # the lapsed slot came back
    assert not await store.lease_renew("g", "never-held", LONG)


async def test_lease_cap_holds_under_concurrency_across_instances(
    store: Store, new_store: Callable[[], Store]
) -> None:
    other = new_store()
    try:
        results = await asyncio.gather(
            *(s.lease_acquire("cap", f"h{i}", 5, 30) for i, s in enumerate([store, other] * 15))
        )
        assert sum(results) == 5
        assert await store.lease_count("cap") == 5
        assert await other.lease_count("cap") == 5
    finally:
        if other is not store:
            await other.close()


# ---- queues -----------------------------------------------------------------------------------------
async def test_queue_fifo_positions_limit_and_removal(store: Store) -> None:
    assert await store.queue_push("q", "t1", 30, limit=3) == 0
    assert await store.queue_push("q", "t2", 30, limit=3) == 1
    assert await store.queue_push("q", "t3", 30, limit=3) == 2
    assert await store.queue_push("q", "t4", 30, limit=3) is None  # full
    assert await store.queue_push("q", "t2", 30, limit=3) == 1  # re-push keeps its place
    assert await store.queue_head("q", 10) == ["t1", "t2", "t3"]
    assert await store.queue_head("q", 2) == ["t1", "t2"]
    await store.queue_remove("q", "t1")
    assert await store.queue_position("q", "t3") == 1
    assert await store.queue_position("q", "t1") is None
    assert await store.queue_push("q", "t4", 30, limit=3) == 2
    assert await store.queue_len("q") == 3
    assert await store.queue_head("q", 10) == ["t2", "t3", "t4"]
    assert await store.queue_len("empty") == 0
    assert await store.queue_head("empty", 5) == []


async def test_queue_expiry_and_touch(store: Store, timeline: Timeline) -> None:
    await store.queue_push("q", "lapses", LONG, limit=10)
    await store.queue_push("q", "kept", LONG, limit=10)
    await store.queue_push("q", "later", LONG, limit=10)
    assert await store.queue_touch("q", "kept", LONG)
    assert await store.queue_touch("q", "lapses", SHORT)  # a touch sets the expiry to now + ttl, shorter too
    await timeline.lapse(not_queued(store, "q", "lapses"))
    assert await store.queue_head("q", 10) == ["kept", "later"]
    assert await store.queue_position("q", "later") == 1
    assert await store.queue_position("q", "lapses") is None
    assert not await store.queue_touch("q", "lapses", LONG)
    assert await store.queue_len("q") == 2
    # expired tickets do not count against the limit
    assert await store.queue_push("q", "fits", 30, limit=3) == 2


async def test_queue_limit_holds_under_concurrent_pushes(store: Store, backend: str) -> None:
    results = await asyncio.gather(*(store.queue_push("q", f"t{i}", 30, limit=8) for i in range(24)))
    positions = [p for p in results if p is not None]
    assert await store.queue_len("q") == len(positions)
    if backend == "dynamodb":  # ADD, then put: racing pushes may overrun by those in flight (documented)
        assert 8 <= len(positions) < 24
        assert max(positions) < len(positions)
        return
    assert len(positions) == 8
    assert sorted(positions) == list(range(8))


# ---- leases gated by a queue ------------------------------------------------------------------------
async def test_fifo_acquire_without_ticket_needs_an_empty_queue(store: Store, timeline: Timeline) -> None:
    assert await store.lease_acquire_fifo("g", "fast", 3, 30, "q")
    await store.queue_push("q", "waiter", LONG, limit=10)
    assert not await store.lease_acquire_fifo("g", "newcomer", 3, 30, "q")  # may not overtake
    assert await store.lease_count("g") == 1
    assert await store.queue_touch("q", "waiter", SHORT)
    await timeline.lapse(not_queued(store, "q", "waiter"))  # the waiter's ticket lapsed: the gate opens again
    assert await store.lease_acquire_fifo("g", "newcomer", 3, 30, "q")


async def test_fifo_acquire_with_ticket_moves_it_from_queue_to_slot(store: Store) -> None:
    assert await store.lease_acquire("g", "busy", 1, 30)
    await store.queue_push("q", "w1", 30, limit=10)
    await store.queue_push("q", "w2", 30, limit=10)
    assert not await store.lease_acquire_fifo("g", "w1", 1, 30, "q", "w1")  # full: ticket stays
    assert await store.queue_head("q", 10) == ["w1", "w2"]
    await store.lease_release("g", "busy")
    assert await store.lease_acquire_fifo("g", "w1", 1, 30, "q", "w1")
    assert await store.queue_head("q", 10) == ["w2"]
    assert await store.lease_holders("g") == ["w1"]
    await store.lease_release("g", "w1")
    await store.queue_remove("q", "w2")
    assert not await store.lease_acquire_fifo("g", "w2", 1, 30, "q", "w2")  # a removed ticket gets nothing
    assert await store.lease_count("g") == 0


async def test_fifo_acquire_cap_holds_under_concurrency(store: Store) -> None:
    for i in range(12):
        await store.queue_push("q", f"w{i}", 30, limit=20)
    results = await asyncio.gather(
        *(store.lease_acquire_fifo("g", f"w{i}", 4, 30, "q", f"w{i}") for i in range(12))
    )
    assert sum(results) == 4
    assert await store.queue_len("q") == 8
    granted = {f"w{i}" for i, ok in enumerate(results) if ok}
    assert set(await store.lease_holders("g")) == granted
    assert not granted & set(await store.queue_head("q", 20))


# ---- two slots in one step ------------------------------------------------------------------------------
async def test_a_pair_is_taken_whole_or_not_at_all(store: Store) -> None:
    first, second = Lease("class", "r1", 2, 60), Lease("account", "r1", 1, 60)
    assert await store.lease_acquire_pair(first, "q", second) == PAIR_TAKEN
    assert await store.lease_holders("class") == ["r1"] and await store.lease_holders("account") == ["r1"]
    # the account is full: nothing is taken, the class slot included
    assert await store.lease_acquire_pair(
        Lease("class", "r2", 2, 60), "q", Lease("account", "r2", 1, 60)
    ) == (SECOND_REFUSED)
    assert await store.lease_count("class") == 1 and await store.lease_count("account") == 1
    # the class is full: refused before the account is looked at
    await store.lease_acquire("class", "other", 2, 60)
    assert await store.lease_acquire_pair(Lease("class", "r3", 2, 60), "q", Lease("spare", "r3", 5, 60)) == (
        FIRST_REFUSED
    )
    assert await store.lease_count("spare") == 0
    await store.lease_release_many([("class", "r1"), ("account", "r1"), ("class", "absent")])
    assert await store.lease_holders("class") == ["other"] and await store.lease_count("account") == 0


async def test_a_pair_does_not_overtake_a_queued_ticket(store: Store) -> None:
    assert await store.queue_push("q", "waiting", 60, 10) == 0
    pair = (Lease("class", "r1", 5, 60), "q", Lease("account", "r1", 5, 60))
    assert await store.lease_acquire_pair(*pair) == FIRST_REFUSED
    assert await store.lease_count("class") == 0 and await store.lease_count("account") == 0
    await store.queue_remove("q", "waiting")
    assert await store.lease_acquire_pair(*pair) == PAIR_TAKEN
