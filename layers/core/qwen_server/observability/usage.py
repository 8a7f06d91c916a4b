"""Usage by tenant (requests, input and output tokens, error answers) for `GET /admin/usage` (per UTC day)
and `GET /admin/usage/recent` (the last hour and the last day, rolling).

Counted in the process and written behind: every second the totals gathered so far are added to store
counters, so a request pays no store round trip for them, and every instance adds to the same counters.
What a process gathered in its last second is lost if it dies.

Three sets of counters, `<scheme>:<bucket>:<tenant>:<field>`: `usage:` per UTC day (kept 40 days),
`usage-5m:` per five minutes (kept two hours; the last hour is its last 12 buckets) and `usage-1h:` per
hour (kept two days; the last day is its last 24 buckets). A rolling window is thus exact to its bucket:
"the last hour" covers between 55 and 60 minutes, "the last day" between 23 and 24 hours.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from qwen_server.core.errors import GatewayError
from qwen_server.store import Store

PREFIX = "usage:"
FIELDS = ("requests", "input_tokens", "output_tokens", "errors")
KEEP_SECONDS = 40 * 86400
FLUSH_SECONDS = 1.0
log = logging.getLogger("qwen_server")


@dataclass(frozen=True, slots=True)
class Window:
    """A rolling window summed from `buckets` buckets of `seconds` each, kept in `usage-<name>:` counters."""

    name: str
    prefix: str
    seconds: int
    buckets: int

    def bucket(self, now: float) -> int:
        return int(now // self.seconds)

    def first(self, now: float) -> int:
        """The oldest bucket still inside the window at `now`."""
        return self.bucket(now) - self.buckets + 1


WINDOWS = (
    Window("hour", "usage-5m:", 300, 12),
    Window("day", "usage-1h:", 3600, 24),
)


def _day(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")


def _zero() -> dict[str, int]:
    return dict.fromkeys(FIELDS, 0)


class UsageLedger:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self._clock = clock
        # "<scheme>:<bucket>:<tenant>" -> totals not yet written, and how long its counters are kept
        self._pending: dict[str, dict[str, int]] = defaultdict(_zero)
        self._ttls: dict[str, float] = {}
        self._flusher: asyncio.Task[None] | None = None
        self._flushing = asyncio.Lock()  # one flush at a time: see `flush`

    def add(
        self,
        tenant: str,
        *,
        requests: int = 0,
        input_tokens: int = 0,
        output_tokens: int = 0,
        errors: int = 0,
    ) -> None:
        now = self._clock()
        amounts = (requests, input_tokens, output_tokens, errors)
        bases = [(f"{PREFIX}{_day(now)}:{tenant}", float(KEEP_SECONDS))]
        bases += [(f"{w.prefix}{w.bucket(now)}:{tenant}", 2.0 * w.seconds * w.buckets) for w in WINDOWS]
        for base, ttl in bases:
            row = self._pending[base]
            for field, amount in zip(FIELDS, amounts, strict=True):
                row[field] += amount
            self._ttls[base] = ttl
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(FLUSH_SECONDS)
        await self.flush()

    async def flush(self) -> None:
        """Add what was gathered to the store counters. A flush waits for one in flight, so whoever flushes
        (a report) reads afterwards everything added before it, also what the background flush was writing."""
        async with self._flushing:
            pending, self._pending = self._pending, defaultdict(_zero)
            ttls, self._ttls = self._ttls, {}
            for base, row in pending.items():
                for field, amount in row.items():
                    if not amount:
                        continue
                    try:
                        await self.store.incr(f"{base}:{field}", amount, ttl=ttls[base])
                    except GatewayError as exc:
                        log.warning("usage of %s not recorded: %s", base.rpartition(":")[2], exc.message)

    async def report(self) -> list[dict[str, object]]:
        """Rows of (day, tenant) with their totals, newest day first."""
        await self.flush()
        rows: dict[tuple[str, str], dict[str, object]] = {}
        for key, raw in (await self.store.scan(PREFIX)).items():
            day, _, rest = key[len(PREFIX) :].partition(":")
            tenant, _, field = rest.rpartition(":")
            row = rows.setdefault((day, tenant), {"day": day, "tenant": tenant, **_zero()})
            row[field] = int(float(raw))
        return [rows[k] for k in sorted(rows, key=lambda k: (k[0], k[1]), reverse=True)]

    async def recent(self) -> dict[str, Any]:
        """Per window (`hour`, `day`): rows of tenant totals, busiest first, and when the window starts."""
        await self.flush()
        now = self._clock()
        out: dict[str, Any] = {"now": now}
        for window in WINDOWS:
            first = window.first(now)
            totals: dict[str, dict[str, int]] = defaultdict(_zero)
            for key, raw in (await self.store.scan(window.prefix)).items():
                bucket, _, rest = key[len(window.prefix) :].partition(":")
                tenant, _, field = rest.rpartition(":")
                if bucket.isdigit() and int(bucket) >= first and field in FIELDS:
                    totals[tenant][field] += int(float(raw))
            busiest = sorted(totals.items(), key=lambda item: (-item[1]["requests"], item[0]))
            out[window.name] = {
                "since": first * window.seconds,
                "data": [{"tenant": tenant, **row} for tenant, row in busiest],
            }
        return out
