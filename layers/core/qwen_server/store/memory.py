"""In-process store: one event loop, so plain dict operations are already atomic between awaits."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable


class MemoryStore:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._kv: dict[str, tuple[bytes, float | None]] = {}
        self._leases: dict[str, dict[str, float]] = {}
        self._queues: dict[str, dict[str, tuple[int, float]]] = {}
        self._seq = itertools.count()

    def _live(self, key: str) -> bytes | None:
        item = self._kv.get(key)
        if item is None:
            return None
        value, expires = item
        if expires is not None and expires <= self._clock():
            del self._kv[key]
            return None
        return value

    def _expiry(self, ttl: float | None) -> float | None:
        return None if ttl is None else self._clock() + ttl

    async def get(self, key: str) -> bytes | None:
        return self._live(key)

    async def get_many(self, keys: list[str]) -> list[bytes | None]:
        return [self._live(k) for k in keys]

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self._kv[key] = (value, self._expiry(ttl))

    async def set_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        if self._live(key) is not None:
            return False
        self._kv[key] = (value, self._expiry(ttl))
        return True

    async def compare_and_set(
        self, key: str, expected: bytes | None, value: bytes, ttl: float | None = None
    ) -> bool:
        if self._live(key) != expected:
            return False
        self._kv[key] = (value, self._expiry(ttl))
        return True

    async def delete(self, key: str) -> None:
        self._kv.pop(key, None)

    async def incr(self, key: str, amount: float = 1.0, ttl: float | None = None) -> float:
        current = self._live(key)
        value = (float(current) if current is not None else 0.0) + amount
        old = self._kv.get(key)
        expires = old[1] if old is not None and current is not None and ttl is None else self._expiry(ttl)
        self._kv[key] = (repr(value).encode(), expires)
        return value

    async def scan(self, prefix: str) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for key in [k for k in self._kv if k.startswith(prefix)]:
            value = self._live(key)
            if value is not None:
                out[key] = value
        return out

    def _live_leases(self, group: str) -> dict[str, float]:
        now = self._clock()
        slots = self._leases.setdefault(group, {})
        for holder in [h for h, exp in slots.items() if exp <= now]:
            del slots[holder]
        return slots

    async def lease_acquire(self, group: str, holder: str, limit: int, ttl: float) -> bool:
        slots = self._live_leases(group)
        if holder in slots:
            slots[holder] = self._clock() + ttl
            return True
        if len(slots) >= limit:
            return False
        slots[holder] = self._clock() + ttl
        return True

    async def lease_renew(self, group: str, holder: str, ttl: float) -> bool:
        slots = self._live_leases(group)
        if holder not in slots:
            return False
        slots[holder] = self._clock() + ttl
        return True

    async def lease_release(self, group: str, holder: str) -> None:
        self._leases.get(group, {}).pop(holder, None)

    async def lease_count(self, group: str) -> int:
        return len(self._live_leases(group))

    def _live_queue(self, queue: str) -> dict[str, tuple[int, float]]:
        now = self._clock()
        tickets = self._queues.setdefault(queue, {})
        for ticket in [t for t, (_, exp) in tickets.items() if exp <= now]:
            del tickets[ticket]
        return tickets

    async def queue_push(self, queue: str, ticket: str, ttl: float, limit: int) -> int | None:
        tickets = self._live_queue(queue)
        if ticket not in tickets and len(tickets) >= limit:
            return None
        seq = tickets[ticket][0] if ticket in tickets else next(self._seq)
        tickets[ticket] = (seq, self._clock() + ttl)
        return sum(1 for s, _ in tickets.values() if s < seq)

    async def queue_position(self, queue: str, ticket: str) -> int | None:
        tickets = self._live_queue(queue)
        if ticket not in tickets:
            return None
        seq = tickets[ticket][0]
        return sum(1 for s, _ in tickets.values() if s < seq)

    async def queue_touch(self, queue: str, ticket: str, ttl: float) -> bool:
        tickets = self._live_queue(queue)
        if ticket not in tickets:
            return False
        tickets[ticket] = (tickets[ticket][0], self._clock() + ttl)
        return True

    async def queue_remove(self, queue: str, ticket: str) -> None:
        self._queues.get(queue, {}).pop(ticket, None)

    async def queue_len(self, queue: str) -> int:
        return len(self._live_queue(queue))

    async def close(self) -> None:
        return None
