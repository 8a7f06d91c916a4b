"""A rate-limited account is paced: an attempt there first notes its start in the store (a health write after
the account slot is taken). A request cancelled during that write must not keep the slot: memory, SQLite and
Redis, each with its own real lease bookkeeping."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from qwen_server.core.errors import UpstreamRateLimited
from qwen_server.pool.choice import Outcome
from qwen_server.pool.pool import AccountPool
from qwen_server.pool.state import slots_key
from qwen_server.store import Store, open_store
from tests.fake_clock import FakeClock
from tests.pool.support import ListRegistry, account
from tests.services import redis_binary, redis_service, redis_url_with

MODEL = "qwen3-max"


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    if redis_binary() is None:
        pytest.skip("redis-server is not installed")
    with redis_service() as url:
        yield url


class StallingWrites:
    """The real store, except that once `stall` is set a compare-and-set waits until the test lets it go."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner
        self.stall = False
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def compare_and_set(self, *args: Any, **kwargs: Any) -> bool:
        if self.stall:
            self.entered.set()
            await self.release.wait()
        return cast(bool, await self._inner.compare_and_set(*args, **kwargs))


@pytest.mark.parametrize("backend", ["memory", "sqlite", "redis"])
async def test_a_request_cancelled_while_its_pace_is_noted_gives_its_slot_back(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "redis":
        url = redis_url_with(request.getfixturevalue("redis_url"), prefix=f"t{uuid.uuid4().hex[:8]}:")
    else:
        url = "memory://" if backend == "memory" else f"sqlite:///{tmp_path / 'state.db'}"
    store = StallingWrites(open_store(url))
    clock = FakeClock()
    pool = AccountPool(
        ListRegistry([account("a"), account("b")]), cast(Store, store), clock=clock, rng=random.Random(1)
    )
    try:
        first = await pool.choose(MODEL, exclude=frozenset({"b"}))
        await pool.record(first, Outcome(ok=False, error=UpstreamRateLimited("429", retry_after=6), duration=0.05))
        clock.advance(6.0)  # the Retry-After has run out: "a" may take one attempt, which starts its pace
        store.stall = True
        choosing = asyncio.ensure_future(pool.choose(MODEL, exclude=frozenset({"b"})))
        await asyncio.wait_for(store.entered.wait(), 10)
        assert await store.lease_count(slots_key("a")) == 1  # the slot was taken before the pace is noted
        choosing.cancel()
        store.release.set()
        with pytest.raises(asyncio.CancelledError):
            await choosing
        for _ in range(200):  # the slot is given back in a task of its own
            if await store.lease_count(slots_key("a")) == 0:
                break
            await asyncio.sleep(0.05)
        assert await store.lease_count(slots_key("a")) == 0
    finally:
        await store.close()
