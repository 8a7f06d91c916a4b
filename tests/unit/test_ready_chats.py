"""Ready chats on one store: filled to depth off the request path, each taken once, too old ones deleted
instead of used, swept when nobody takes them; instances sharing the store share the chats."""

from __future__ import annotations

import asyncio
import itertools

from qwen_server.core.errors import UpstreamRateLimited
from qwen_server.providers.base import Account
from qwen_server.providers.qwen_web.ready_chats import ReadyChats, queue_name
from qwen_server.store.memory import MemoryStore

ACCOUNT = Account(id="a1", kind="qwen-web", base_url="http://qwen.test", name="a", token="t")


class Upstream:
    """Makes and deletes chats as the web API would, keeping score."""

    def __init__(self) -> None:
        self.ids = itertools.count(1)
        self.made: list[str] = []
        self.deleted: list[str] = []
        self.refuse = False

    async def create(self, account: Account, model: str, chat_type: str) -> str:
        if self.refuse:
            raise UpstreamRateLimited("429")
        chat_id = f"{model}/{chat_type}/{next(self.ids)}"
        self.made.append(chat_id)
        return chat_id

    async def delete(self, account: Account, chat_id: str) -> None:
        self.deleted.append(chat_id)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def ready(store: MemoryStore, upstream: Upstream, clock: Clock, depth: int = 2) -> ReadyChats:
    return ReadyChats(store, upstream.create, upstream.delete, depth=depth, max_age=300, clock=clock)


async def test_nothing_is_ready_until_asked_then_the_stock_is_filled_to_depth_and_each_chat_used_once() -> None:
    clock, upstream = Clock(), Upstream()
    store = MemoryStore(clock)
    chats = ready(store, upstream, clock)
    assert await chats.take(ACCOUNT, "m", "t2t") is None
    assert upstream.made == []  # a miss makes nothing by itself: the caller makes its own chat
    chats.refill(ACCOUNT, "m", "t2t")
    chats.refill(ACCOUNT, "m", "t2t")  # one filler per key at a time
    await chats.settle()
    assert upstream.made == ["m/t2t/1", "m/t2t/2"]
    assert await chats.take(ACCOUNT, "m", "t2t") == "m/t2t/1"
    assert await chats.take(ACCOUNT, "m", "search") is None  # another chat type has its own stock
    chats.refill(ACCOUNT, "m", "t2t")
    await chats.settle()
    assert await store.queue_head(queue_name("a1", "m", "t2t"), 10) != []
    taken = [await chats.take(ACCOUNT, "m", "t2t") for _ in range(3)]
    assert taken == ["m/t2t/2", "m/t2t/3", None]


async def test_instances_sharing_a_store_never_get_the_same_chat() -> None:
    clock, upstream = Clock(), Upstream()
    store = MemoryStore(clock)
    first, second = ready(store, upstream, clock, depth=6), ready(store, upstream, clock, depth=6)
    first.refill(ACCOUNT, "m", "t2t")
    await first.settle()
    taken = await asyncio.gather(*(c.take(ACCOUNT, "m", "t2t") for c in [first, second] * 4))
    got = [t for t in taken if t is not None]
    assert sorted(got) == sorted(upstream.made) and len(set(got)) == 6  # made by one, shared by both


async def test_a_chat_past_its_age_is_deleted_not_used_and_the_sweep_clears_an_idle_stock() -> None:
    clock, upstream = Clock(), Upstream()
    store = MemoryStore(clock)
    chats = ready(store, upstream, clock, depth=3)
    chats.refill(ACCOUNT, "m", "t2t")
    await chats.settle()
    clock.now += 301
    assert await chats.take(ACCOUNT, "m", "t2t") is None  # every one too old
    await chats.settle()
    assert sorted(upstream.deleted) == sorted(upstream.made)
    chats.refill(ACCOUNT, "m", "t2t")
    await chats.settle()
    fresh = set(upstream.made) - set(upstream.deleted)
    assert len(fresh) == 3
    clock.now += 150
    assert await chats.sweep() == 0  # not too old yet
    clock.now += 151
    assert await chats.sweep() == 3
    assert fresh <= set(upstream.deleted)
    assert await store.queue_len(queue_name("a1", "m", "t2t")) == 0
    assert await chats.sweep() == 0  # the key left the sweep with its stock


async def test_a_refused_fill_costs_nothing_and_depth_zero_turns_it_all_off() -> None:
    clock, upstream = Clock(), Upstream()
    store = MemoryStore(clock)
    chats = ready(store, upstream, clock)
    upstream.refuse = True
    chats.refill(ACCOUNT, "m", "t2t")
    await chats.settle()
    assert await chats.take(ACCOUNT, "m", "t2t") is None
    off = ready(store, Upstream(), clock, depth=0)
    off.refill(ACCOUNT, "m", "t2t")
    await off.settle()
    assert not off.enabled and await off.take(ACCOUNT, "m", "t2t") is None


async def test_a_chat_made_while_other_instances_filled_the_stock_to_its_cap_is_deleted() -> None:
    clock, upstream = Clock(), Upstream()
    store = MemoryStore(clock)
    name = queue_name("a1", "m", "t2t")
    create = upstream.create

    async def racing(account: Account, model: str, chat_type: str) -> str:
        for i in range(4):  # others fill it to the cap (2 x depth) while this one is being made
            await store.queue_push(name, f"{clock.now:.3f} theirs-{i}", 600, 4)
        return await create(account, model, chat_type)

    chats = ReadyChats(store, racing, upstream.delete, depth=2, max_age=300, clock=clock)
    chats.refill(ACCOUNT, "m", "t2t")
    await chats.settle()
    assert upstream.made == ["m/t2t/1"] and upstream.deleted == ["m/t2t/1"]
    assert await store.queue_len(name) == 4
