"""Usage by tenant and UTC day (requests, input and output tokens) for `GET /admin/usage`.

Counted in the process and written behind: every second the totals gathered so far are added to store
counters (`usage:<day>:<tenant>:<field>`), so a request pays no store round trip for them, and every
instance adds to the same counters. What a process gathered in its last second is lost if it dies.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache

from qwen_server.core.errors import GatewayError
from qwen_server.store import Store

PREFIX = "usage:"
FIELDS = ("requests", "input_tokens", "output_tokens")
KEEP_SECONDS = 40 * 86400
FLUSH_SECONDS = 1.0
log = logging.getLogger("qwen_server")


def _day(now: float) -> str:
    return _day_of(int(now // 86400))


@lru_cache(maxsize=4)
def _day_of(day_number: int) -> str:
    """The UTC date of a day since the epoch, formatted once per day rather than on every request."""
    return datetime.fromtimestamp(day_number * 86400, UTC).strftime("%Y-%m-%d")


class UsageLedger:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self._clock = clock
        self._pending: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(FIELDS, 0))
        self._flusher: asyncio.Task[None] | None = None

    def add(self, tenant: str, *, requests: int = 0, input_tokens: int = 0, output_tokens: int = 0) -> None:
        row = self._pending[(_day(self._clock()), tenant)]
        row["requests"] += requests
        row["input_tokens"] += input_tokens
        row["output_tokens"] += output_tokens
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(FLUSH_SECONDS)
        await self.flush()

    async def flush(self) -> None:
        pending, self._pending = self._pending, defaultdict(lambda: dict.fromkeys(FIELDS, 0))
        for (day, tenant), row in pending.items():
            for field, amount in row.items():
                if not amount:
                    continue
                try:
                    await self.store.incr(f"{PREFIX}{day}:{tenant}:{field}", amount, ttl=KEEP_SECONDS)
                except GatewayError as exc:
                    log.warning("usage of %s not recorded: %s", tenant, exc.message)

    async def report(self) -> list[dict[str, object]]:
        """Rows of (day, tenant) with their totals, newest day first."""
        await self.flush()
        rows: dict[tuple[str, str], dict[str, object]] = {}
        for key, raw in (await self.store.scan(PREFIX)).items():
            day, _, rest = key[len(PREFIX) :].partition(":")
            tenant, _, field = rest.rpartition(":")
            row = rows.setdefault((day, tenant), {"day": day, "tenant": tenant, **dict.fromkeys(FIELDS, 0)})
            row[field] = int(float(raw))
        return [rows[k] for k in sorted(rows, key=lambda k: (k[0], k[1]), reverse=True)]
