"""How a store test lets TTLs run out without depending on how fast the machine is."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from qwen_server.store import Store
from qwen_server.store.redis import RedisStore
from tests.fake_clock import FakeClock


class Timeline:
    """How a test lets a store's TTLs run out, whatever the machine's speed.

    Memory, SQLite and DynamoDB read the injected clock, which jumps. Redis reads its server's own clock, so
    there the test waits, up to `DEADLINE` seconds, until what had to lapse has lapsed, or reads the key's own
    TTL. Items a test expects to be live carry `LONG`, which no pause of a loaded machine comes near; items that
    must lapse get `SHORT` and are never expected to be live afterwards (on Redis a pause could outlast it)."""

    SHORT = 1.0
    LONG = 3600.0
    DEADLINE = 30.0

    def __init__(self, backend: str, clock: FakeClock) -> None:
        self.backend = backend
        self.clock = clock

    async def lapse(self, gone: Callable[[], Awaitable[bool]]) -> None:
        """Let every `SHORT` TTL written so far run out; `gone` says whether one of them has."""
        if self.backend != "redis":
            self.clock.advance(self.SHORT + 1)
            return
        deadline = time.monotonic() + self.DEADLINE
        while not await gone():
            assert time.monotonic() < deadline, f"a {self.SHORT:g} s TTL had not run out after {self.DEADLINE:g} s"
            await asyncio.sleep(0.05)

    async def lapses_within(self, store: Store, key: str, seconds: float) -> bool:
        """Whether the value at `key` is live and will lapse within `seconds` (the fake clock jumps that far;
        on Redis the key's own TTL is read, as no test waits `LONG`)."""
        if isinstance(store, RedisStore):
            left_ms = await store._r.pttl(store._kv(key))
            return 0 < left_ms <= seconds * 1000
        if await store.get(key) is None:
            return False
        self.clock.advance(seconds)
        return await store.get(key) is None
