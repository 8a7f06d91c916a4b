"""Chats made ahead of need, so an answer costs one upstream round trip before its first token, not two.

The web API answers inside a chat, and a chat is one call to make (`chats/new`). Made on the request path it
doubles the time to the first token for a client far from the upstream. So a few chats are kept ready per
(account, model, chat type), as tickets of a queue in the shared store: any instance, a cold-started one
included, takes a chat another instance made. Each ticket names the chat and when it was made.

- **Taking** is `queue_pop`, atomic in every store, so a chat serves one answer only. A chat older than
  `max_age` is not used: it is deleted upstream and the next one is taken.
- **Filling** runs off the request path: once an answer has started, one task per key and instance makes chats
  until `depth` are ready (instances racing may overshoot by a few; the queue's `limit` caps it and a chat
  past the cap is deleted at once). Nothing is made for a key nobody asked for.
- **Expiry**: while this instance has filled keys, a sweep every `max_age / 2` deletes (upstream and in the
  store) chats past `max_age`; a key whose stock ran out is dropped from the sweep, so an idle gateway makes
  nothing. A ticket outlives `max_age` in the store by as much again, so the sweep finds it; if every
  instance stops, the store drops it and the empty chat stays upstream as clutter.
- The caller falls back to making a chat when none is ready, and when the upstream refuses a ready one
  (deleted or in use elsewhere): see `QwenWebProvider._turn`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from qwen_server.core.errors import GatewayError
from qwen_server.providers.base import Account
from qwen_server.store.base import Store

log = logging.getLogger("qwen_server")

Create = Callable[[Account, str, str], Awaitable[str]]  # (account, model, chat type) -> chat id
Delete = Callable[[Account, str], Awaitable[None]]  # (account, chat id)
Key = tuple[str, str, str]  # (account id, model, chat type)


def queue_name(account_id: str, model: str, chat_type: str) -> str:
    return f"qwen:ready-chats:{account_id}:{chat_type}:{model}"


def ticket(made_at: float, chat_id: str) -> str:
    return f"{made_at:.3f} {chat_id}"


def parse_ticket(raw: str) -> tuple[float, str] | None:
    stamp, _, chat_id = raw.partition(" ")
    try:
        return float(stamp), chat_id
    except ValueError:
        return None


class ReadyChats:
    def __init__(
        self,
        store: Store,
        create: Create,
        delete: Delete,
        *,
        depth: int = 2,
        max_age: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._create = create
        self._delete = delete
        self.depth = depth
        self.max_age = max_age
        self._clock = clock
        self._filling: set[Key] = set()
        self._accounts: dict[Key, Account] = {}  # keys this instance filled, for the sweep
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self.depth > 0

    async def take(self, account: Account, model: str, chat_type: str) -> str | None:
        """A ready chat of this account for `model` and `chat_type`, now no one else's; None when none is."""
        if not self.enabled:
            return None
        name = queue_name(account.id, model, chat_type)
        for _ in range(self.depth * 4 + 2):
            raw = await self._store.queue_pop(name)
            if raw is None:
                return None
            parsed = parse_ticket(raw)
            if parsed is None:
                continue
            made_at, chat_id = parsed
            if self._clock() - made_at <= self.max_age:
                return chat_id
            self._spawn(self._delete(account, chat_id))  # past its age: nobody uses it
        return None

    def refill(self, account: Account, model: str, chat_type: str) -> None:
        """Make chats in the background until `depth` are ready for this key (one filler per key here)."""
        key = (account.id, model, chat_type)
        if not self.enabled or key in self._filling:
            return
        self._filling.add(key)
        self._accounts[key] = account
        self._spawn(self._fill(key, account))
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_while_stocked())

    async def _fill(self, key: Key, account: Account) -> None:
        _, model, chat_type = key
        name = queue_name(*key)
        try:
            for _ in range(self.depth):
                if await self._store.queue_len(name) >= self.depth:
                    return
                chat_id = await self._create(account, model, chat_type)
                made = ticket(self._clock(), chat_id)
                if await self._store.queue_push(name, made, self.max_age * 2, self.depth * 2) is None:
                    await self._delete(account, chat_id)  # other instances filled it meanwhile
                    return
        except GatewayError as exc:  # the request path makes its own chat; nothing is lost
            log.debug("no ready chat made for %s: %s", account.name, exc.message)
        finally:
            self._filling.discard(key)

    async def sweep(self) -> int:
        """Delete the chats past `max_age` of every key this instance filled; answers how many. Keys left
        without ready chats are dropped from the sweep."""
        deleted = 0
        for key, account in list(self._accounts.items()):
            name = queue_name(*key)
            stock = await self._store.queue_head(name, self.depth * 4)
            kept = 0
            for raw in stock:
                parsed = parse_ticket(raw)
                if parsed is not None and self._clock() - parsed[0] <= self.max_age:
                    kept += 1
                    continue
                await self._store.queue_remove(name, raw)
                if parsed is not None:
                    await self._delete(account, parsed[1])
                    deleted += 1
            if not kept and key not in self._filling:
                self._accounts.pop(key, None)
        return deleted

    async def _sweep_while_stocked(self) -> None:
        while self._accounts:
            await asyncio.sleep(self.max_age / 2)
            try:
                await self.sweep()
            except GatewayError as exc:
                log.warning("sweeping expired ready chats failed: %s", exc.message)

    def _spawn(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            await work

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle(self) -> None:
        """Wait for the fillers and deletions started so far (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
