"""In-process store: one event loop, so plain dict operations are already atomic between awaits.

The reference backend: the others must behave exactly like it (tests/store runs one suite over all four).
Expired entries are dropped when read and by an amortised sweep, so a long-running process does not keep
keys nobody reads again.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

from qwen_server.store._codec import decode_number, encode_number
from qwen_server.store.base import FIRST_REFUSED, PAIR_TAKEN, SECOND_REFUSED, Lease


class MemoryStore:
    max_value_bytes: int | None = None

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._kv: dict[str, tuple[bytes, float | None]] = {}
        self._leases: dict[str, dict[str, float]] = {}
        # ticket -> (seq, expiry); insertion order is seq order because a re-push keeps its entry
        self._queues: dict[str, dict[str, tuple[int, float]]] = {}
        self._seq = itertools.count()
        self._writes_since_sweep = 0

    async def ping(self) -> None:
        return None

    # ---- key / value ---------------------------------------------------------------------------------
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

    def _write(self, key: str, value: bytes, expires: float | None) -> None:
        self._kv[key] = (value, expires)
        self._writes_since_sweep += 1
        if self._writes_since_sweep > max(1024, len(self._kv)):
            self._sweep()

    def _sweep(self) -> None:
        now = self._clock()
        for key in [k for k, (_, exp) in self._kv.items() if exp is not None and exp <= now]:
            del self._kv[key]
        for name in [g for g in self._leases if not self._live_leases(g)]:
            del self._leases[name]
        for name in [q for q in self._queues if not self._live_queue(q)]:
            del self._queues[name]
        self._writes_since_sweep = 0

    async def get(self, key: str) -> bytes | None:
        return self._live(key)

    async def get_many(self, keys: list[str]) -> list[bytes | None]:
        return [self._live(k) for k in keys]

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self._write(key, value, self._expiry(ttl))

    async def set_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        if self._live(key) is not None:
            return False
        self._write(key, value, self._expiry(ttl))
        return True

    async def compare_and_set(
        self, key: str, expected: bytes | None, value: bytes, ttl: float | None = None
    ) -> bool:
        if self._live(key) != expected:
            return False
        self._write(key, value, self._expiry(ttl))
        return True

    async def delete(self, key: str) -> None:
        self._kv.pop(key, None)

    async def incr(self, key: str, amount: float = 1.0, ttl: float | None = None) -> float:
        current = self._live(key)
        value = (decode_number(current) if current is not None else 0.0) + amount
        old = self._kv.get(key)
        expires = old[1] if old is not None and current is not None and ttl is None else self._expiry(ttl)
        self._write(key, encode_number(value), expires)
        return value

    async def scan(self, prefix: str) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for key in [k for k in self._kv if k.startswith(prefix)]:
            value = self._live(key)
            if value is not None:
                out[key] = value
        return out

    # ---- leases --------------------------------------------------------------------------------------
    def _live_leases(self, group: str) -> dict[str, float]:
        now = self._clock()
        slots = self._leases.get(group)
        if slots is None:
            return {}
        for holder in [h for h, exp in slots.items() if exp <= now]:
            del slots[holder]
        return slots

    async def lease_acquire(self, group: str, holder: str, limit: int, ttl: float) -> bool:
        slots = self._live_leases(group)
        if holder not in slots and len(slots) >= limit:
            return False
        self._leases.setdefault(group, slots)[holder] = self._clock() + ttl
        return True

    async def lease_acquire_fifo(
        self, group: str, holder: str, limit: int, ttl: float, queue: str, ticket: str | None = None
    ) -> bool:
        tickets = self._live_queue(queue)
        if (ticket is None and tickets) or (ticket is not None and ticket not in tickets):
            return False
        if not await self.lease_acquire(group, holder, limit, ttl):
            return False
        if ticket is not None:
            del tickets[ticket]
        return True

    async def lease_acquire_pair(self, first: Lease, queue: str, second: Lease) -> int:
        if self._live_queue(queue) or not self._has_room(first):
            return FIRST_REFUSED
        if not self._has_room(second):
            return SECOND_REFUSED
        for lease in (first, second):
            self._leases.setdefault(lease.group, {})[lease.holder] = self._clock() + lease.ttl
        return PAIR_TAKEN

    def _has_room(self, lease: Lease) -> bool:
        slots = self._live_leases(lease.group)
        return lease.holder in slots or len(slots) < lease.limit

    async def lease_renew(self, group: str, holder: str, ttl: float) -> bool:
        slots = self._live_leases(group)
        if holder not in slots:
            return False
        slots[holder] = self._clock() + ttl
        return True

    async def lease_release(self, group: str, holder: str) -> None:
        self._leases.get(group, {}).pop(holder, None)

    async def lease_release_many(self, leases: list[tuple[str, str]]) -> None:
        for group, holder in leases:
            self._leases.get(group, {}).pop(holder, None)

    async def lease_count(self, group: str) -> int:
        return len(self._live_leases(group))

    async def lease_holders(self, group: str) -> list[str]:
        return list(self._live_leases(group))

    # ---- queues --------------------------------------------------------------------------------------
    def _live_queue(self, queue: str) -> dict[str, tuple[int, float]]:
        now = self._clock()
        tickets = self._queues.get(queue)
        if tickets is None:
            return {}
        for ticket in [t for t, (_, exp) in tickets.items() if exp <= now]:
            del tickets[ticket]
        return tickets

    @staticmethod
    def _rank(tickets: dict[str, tuple[int, float]], ticket: str) -> int:
        seq = tickets[ticket][0]
        return sum(1 for s, _ in tickets.values() if s < seq)

    async def queue_push(self, queue: str, ticket: str, ttl: float, limit: int) -> int | None:
        tickets = self._live_queue(queue)
        if ticket not in tickets and len(tickets) >= limit:
            return None
        seq = tickets[ticket][0] if ticket in tickets else next(self._seq)
        tickets = self._queues.setdefault(queue, tickets)
        tickets[ticket] = (seq, self._clock() + ttl)
        self._writes_since_sweep += 1
        return self._rank(tickets, ticket)

    async def queue_position(self, queue: str, ticket: str) -> int | None:
        tickets = self._live_queue(queue)
        return self._rank(tickets, ticket) if ticket in tickets else None

    async def queue_head(self, queue: str, n: int) -> list[str]:
        return list(itertools.islice(self._live_queue(queue), max(n, 0)))

    async def queue_touch(self, queue: str, ticket: str, ttl: float) -> bool:
        tickets = self._live_queue(queue)
        if ticket not in tickets:
            return False
        tickets[ticket] = (tickets[ticket][0], self._clock() + ttl)
        return True

    async def queue_remove(self, queue: str, ticket: str) -> None:
        self._queues.get(queue, {}).pop(ticket, None)

    async def queue_pop(self, queue: str) -> str | None:
        tickets = self._live_queue(queue)
        for ticket in tickets:
            del tickets[ticket]
            return ticket
        return None

    async def queue_len(self, queue: str) -> int:
        return len(self._live_queue(queue))

    async def close(self) -> None:
        return None
