"""What the pool learns, written to the store behind the requests: arm statistics and session pins reach the
store (and so every other instance) every `flush_seconds` from one background task, never on a request's path.

A pin is visible in this instance at once (the state cache remembers it); an unchanged pin is written again,
to renew its TTL, at most once a minute. A store that is down delays the statistics to the next round.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from qwen_server.core.errors import GatewayError
from qwen_server.pool.state import Change, StateCache, pin_key
from qwen_server.store.base import Store

log = logging.getLogger("qwen_server.pool")
PIN_RENEW_SECONDS = 60.0


class WriteBehind:
    def __init__(
        self,
        store: Store,
        state: StateCache,
        clock: Callable[[], float],
        *,
        pin_seconds: float,
        flush_seconds: float,
    ) -> None:
        self._store = store
        self._state = state
        self._clock = clock
        self._pin_seconds = pin_seconds
        self._flush_seconds = flush_seconds
        self._pins_written: dict[str, float] = {}  # pin key -> when this instance last wrote it
        self._pins_pending: dict[str, str] = {}  # pin key -> account id, for the next flush
        self._flusher: asyncio.Task[None] | None = None

    def pin(self, session_id: str, account_id: str, *, renew: bool = True) -> None:
        """Pin the session to `account_id` now in this instance's view, in the store off the request's path;
        an unchanged pin is written again (its TTL renewed) at most once a minute."""
        key = pin_key(session_id)
        now = self._clock()
        if renew and now - self._pins_written.get(key, -PIN_RENEW_SECONDS) < PIN_RENEW_SECONDS:
            return
        if len(self._pins_written) > 10_000:
            self._pins_written.clear()
        self._pins_written[key] = now
        self._state.remember(key, account_id.encode())
        self._pins_pending[key] = account_id
        self._soon()

    def update(self, key: str, change: Change, ttl: float) -> None:
        """Apply `change` to this instance's view now, and to the stored value at the next flush."""
        self._state.update_later(key, change, ttl=ttl)
        self._soon()

    async def flush(self) -> None:
        """Write what was learned now (metrics and tests call it; otherwise the background task does)."""
        pins, self._pins_pending = self._pins_pending, {}
        for key, account_id in pins.items():
            await self._store.set(key, account_id.encode(), self._pin_seconds)
        await self._state.flush()

    def _soon(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # driven without an event loop (the pool simulation): flush() is called by hand
            return
        flusher = self._flusher
        if flusher is None or flusher.done() or flusher.get_loop() is not loop:
            self._flusher = loop.create_task(self._flush_loop())

    async def _flush_loop(self) -> None:
        while self._pins_pending or self._state.pending:
            await asyncio.sleep(self._flush_seconds)
            try:
                await self.flush()
            except GatewayError as exc:  # the store is down: the statistics wait for the next round
                log.warning("writing pool statistics failed: %s", exc.message)
