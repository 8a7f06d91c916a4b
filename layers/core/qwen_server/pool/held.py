"""The account slots this instance holds: renewed on a timer while held, announced when let go.

A slot is a store lease with a short TTL, so a process that dies gives its slots back within `lease_seconds`.
A live one renews every slot it holds every `lease_seconds / 3` from one background task, whatever its
streams are doing: a stream that stalls upstream or waits on a slow client keeps its slot (and so keeps the
account within `max_concurrent`) exactly as long as it is really open. Letting go of a slot wakes whoever
waits for one in this instance (the scheduler's dispatcher, `AccountPool.wait_choose`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from qwen_server.core.errors import StoreUnavailable
from qwen_server.pool.state import slots_key
from qwen_server.store.base import Store

if TYPE_CHECKING:
    from qwen_server.pool.pool import Choice

log = logging.getLogger("qwen_server.pool")

SLOT_POLL_SECONDS = 0.1  # a waiter also looks again this often: slots freed by other instances wake nobody


class HeldSlots:
    def __init__(self, store: Store, lease_seconds: float) -> None:
        self._store = store
        self._lease_seconds = lease_seconds
        self._held: dict[str, Choice] = {}
        self._renewer: asyncio.Task[None] | None = None
        self._freed: asyncio.Event | None = None
        self.listeners: list[Callable[[], None]] = []

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, choice: Choice) -> None:
        self._held[choice.holder] = choice
        try:
            loop = _loop()
        except RuntimeError:  # driven without an event loop (the pool simulation): nothing to renew with
            return
        if self._renewer is None or self._renewer.done() or self._renewer.get_loop() is not loop:
            self._renewer = loop.create_task(self._renew_loop())

    def let_go(self, choice: Choice) -> None:
        self._held.pop(choice.holder, None)
        if self._freed is not None:
            self._freed.set()
        for listener in self.listeners:
            listener()

    async def released(self, within: float) -> None:
        """Return when this instance frees a slot, or after `within` seconds."""
        if self._freed is None or _loop_of(self._freed) not in (None, _loop()):
            self._freed = asyncio.Event()  # the old one belongs to a loop that is gone (tests, adapters)
        self._freed.clear()
        try:
            await asyncio.wait_for(self._freed.wait(), within)
        except TimeoutError:
            return

    async def _renew_loop(self) -> None:
        while self._held:
            await asyncio.sleep(self._lease_seconds / 3)
            for choice in list(self._held.values()):
                if choice.holder not in self._held:
                    continue  # let go while we renewed the others
                try:
                    alive = await self._store.lease_renew(
                        slots_key(choice.account.id), choice.holder, self._lease_seconds
                    )
                except StoreUnavailable as exc:
                    log.warning("renewing the slot of %s failed: %s", choice.account.name, exc)
                    continue
                if not alive and choice.holder in self._held:
                    log.warning(
                        "the slot of %s lapsed before renewal (stalled process?)", choice.account.name
                    )


def _loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def _loop_of(event: asyncio.Event) -> asyncio.AbstractEventLoop | None:
    return getattr(event, "_loop", None)
