"""Shared state: codecs, the bounded-staleness cache, and CAS updates that never lose a concurrent write."""

from __future__ import annotations

from collections.abc import Callable

from qwen_server.pool.bandit import ArmState
from qwen_server.pool.health import HealthState
from qwen_server.pool.state import (
    StateCache,
    arm_key,
    arm_owner,
    decode_arm,
    decode_health,
    encode_arm,
    encode_health,
)
from qwen_server.store.memory import MemoryStore
from tests.fake_clock import FakeClock


def test_codecs_round_trip() -> None:
    arm = ArmState(s=1.5, f=0.25, t=9.0, ttft=1.0, successes=3, recent_ttft=(1.0, 2.0))
    raw = encode_arm(arm, "acc:1", "qwen3-max")
    assert decode_arm(raw) == arm
    assert arm_owner(raw) == ("acc:1", "qwen3-max")
    h = HealthState(cooldown_until=5.0, disabled="why", ejections=2)
    assert decode_health(encode_health(h)) == h
    assert decode_arm(None) is None and decode_health(None) is None


class InterferingStore(MemoryStore):
    """Another instance writes between our read and our compare-and-set, `times` times."""

    def __init__(self, clock: FakeClock, times: int) -> None:
        super().__init__(clock)
        self.times = times

    async def compare_and_set(
        self, key: str, expected: bytes | None, value: bytes, ttl: float | None = None
    ) -> bool:
        if self.times > 0:
            self.times -= 1
            current = await self.get(key)
            await self.set(key, str(int(current or b"0") + 1).encode())
        return await super().compare_and_set(key, expected, value, ttl)


def increment(raw: bytes | None) -> bytes:
    return str(int(raw or b"0") + 1).encode()


async def test_update_keeps_concurrent_writes() -> None:
    clock = FakeClock()
    store = InterferingStore(clock, times=3)
    cache = StateCache(store, clock)
    assert await cache.update("k", increment) == b"4"  # 3 from the other writer, 1 from us
    assert await store.get("k") == b"4"


async def test_update_gives_up_after_bounded_attempts() -> None:
    clock = FakeClock()
    store = InterferingStore(clock, times=100)
    cache = StateCache(store, clock, cas_attempts=5)
    await cache.update("k", increment)
    assert store.times == 95  # five tries, then it stopped


async def test_reads_are_at_most_max_staleness_old() -> None:
    clock = FakeClock()
    store = MemoryStore(clock)
    cache = StateCache(store, clock, max_staleness=1.0)
    await store.set("k", b"1")
    assert await cache.read_many(["k"]) == {"k": b"1"}
    await store.set("k", b"2")  # another instance writes
    clock.advance(0.9)
    assert await cache.read_many(["k"]) == {"k": b"1"}  # cached
    clock.advance(0.2)
    assert await cache.read_many(["k"]) == {"k": b"2"}  # stale entry refreshed


async def test_own_writes_are_read_back_at_once() -> None:
    clock = FakeClock()
    cache = StateCache(MemoryStore(clock), clock)
    assert await cache.read_many([arm_key("a", "m")]) == {arm_key("a", "m"): None}
    await cache.update(arm_key("a", "m"), increment)
    assert await cache.read_many([arm_key("a", "m")]) == {arm_key("a", "m"): b"1"}


async def test_unchanged_values_are_not_written() -> None:
    clock = FakeClock()
    store = InterferingStore(clock, times=1)
    cache = StateCache(store, clock)
    assert await cache.update("k", lambda raw: None) is None
    assert store.times == 1  # no compare-and-set was attempted


def test_a_disable_stored_before_disables_lapsed_lapses_at_once() -> None:
    from qwen_server.pool import health

    legacy = b'{"disabled": "authentication refused 2 times in a row", "consecutive_auth": 2}'
    old = decode_health(legacy)
    assert old is not None and health.status(old, 1.0).state == "suspect"
    kept = decode_health(encode_health(HealthState(disabled="by hand")))
    assert kept is not None and health.status(kept, 10.0**9).state == "disabled"


async def test_changes_written_behind_show_here_at_once_and_in_the_store_at_the_flush() -> None:
    clock = FakeClock()
    store = MemoryStore(clock)
    here, there = StateCache(store, clock), StateCache(store, clock)
    key = arm_key("a", "m")

    def add(n: int) -> Callable[[bytes | None], bytes]:
        return lambda raw: str(int(raw or b"0") + n).encode()

    await store.set(key, b"10")
    assert await here.read_many([key]) == {key: b"10"}
    here.update_later(key, add(1))
    here.update_later(key, add(2))
    assert await here.read_many([key]) == {key: b"13"}  # our own view, without a round trip
    assert await store.get(key) == b"10"  # not yet written
    await there.update(key, add(100))  # another instance writes meanwhile
    clock.advance(2)
    assert await here.read_many([key]) == {key: b"113"}  # a refresh keeps our unflushed changes on top
    await here.flush()
    assert await store.get(key) == b"113" and here.pending == 0
    clock.advance(2)
    assert await there.read_many([key]) == {key: b"113"}
