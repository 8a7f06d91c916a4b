"""The account slots this instance holds: taken as store leases, renewed on a timer while held, given back and
announced when let go.

A slot is a store lease with a short TTL, so a process that dies gives its slots back within `lease_seconds`.
A live one renews every slot it holds every `lease_seconds / 3` from one background task, whatever its
streams are doing: a stream that stalls upstream or waits on a slow client keeps its slot (and so keeps the
account within `max_concurrent`) exactly as long as it is really open. Letting go of a slot wakes whoever
waits for one in this instance (the scheduler's dispatcher, `AccountPool.wait_choose`).
A slot may also be handed to a caller that frees it with something else in one store round trip
(`deferred_release`, then `released`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from qwen_server.core import cleanup
from qwen_server.core.errors import StoreUnavailable
from qwen_server.pool.choice import Choice
from qwen_server.pool.state import slots_key
from qwen_server.providers.base import Account
from qwen_server.store.base import Store

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

    async def take(self, account: Account, model: str, holder: str, choice: Callable[[], Choice]) -> Choice | None:
        """A slot of `account` under `holder`, or None when the account is at its `max_concurrent`.

        `choice` makes the `Choice` once the slot is taken. A caller cancelled while the store decides still
        gets nothing, and whatever the store grants afterwards is given back."""
        slots = slots_key(account.id)
        taking = asyncio.ensure_future(
            self._store.lease_acquire(slots, holder, max(1, account.max_concurrent), self._lease_seconds)
        )
        try:
            taken = await asyncio.shield(taking)
        except asyncio.CancelledError:
            # The request left (a client gone while a failover or continuation waited for an account), but
            # the store may still grant the slot: once the call settles, give back whatever it took, or the
            # slot would stay held for the whole lease with nobody to use or renew it.
            cleanup.spawn(self._give_back_when_settled(taking, slots, holder))
            raise
        if not taken:
            return None
        made = choice()
        self.hold(made)
        return made

    async def _give_back_when_settled(self, taking: asyncio.Future[bool], slots: str, holder: str) -> None:
        done = await asyncio.gather(taking, return_exceptions=True)
        if done[0] is True:
            await self._store.lease_release(slots, holder)

    async def give_back(self, choice: Choice) -> None:
        """Free the choice's slot in the store and here (whoever waits for one looks again)."""
        try:
            await self._store.lease_release(slots_key(choice.account.id), choice.holder)
        finally:
            self.let_go(choice)

    @staticmethod
    def deferred_release(choice: Choice) -> tuple[str, str] | None:
        """The (group, holder) of a slot left held for its caller to free, if any."""
        return (slots_key(choice.account.id), choice.holder) if choice.deferred else None

    def released(self, choice: Choice) -> None:
        """The caller freed a deferred slot: forget it here and wake whoever waits for one."""
        choice.deferred = False
        self.let_go(choice)

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

    async def freed(self, within: float) -> None:
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
