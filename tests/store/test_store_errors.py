"""Start-up and run-time failures: clear `StoreError`s naming STORE_URL at ping, quick `StoreUnavailable` later."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import textwrap
import time
from pathlib import Path

import pytest

from qwen_server.core.errors import StoreUnavailable
from qwen_server.store import StoreError, open_store
from qwen_server.store.dynamodb import DynamoDBStore
from qwen_server.store.memory import MemoryStore
from qwen_server.store.redis import RedisStore
from qwen_server.store.sqlite import SQLiteStore
from tests.services import free_port, redis_binary, redis_url_with, start_redis, stop

QUICK = 15.0  # seconds: a dead backend fails a request within this, not after a client's default 60 s


def test_open_store_dispatches_on_scheme(tmp_path: Path) -> None:
    assert isinstance(open_store("memory://"), MemoryStore)
    assert isinstance(open_store(f"sqlite:///{tmp_path}/x.db"), SQLiteStore)
    assert isinstance(open_store("redis://127.0.0.1:1/0"), RedisStore)
    assert isinstance(open_store("dynamodb://table?region=us-east-1"), DynamoDBStore)
    with pytest.raises(StoreError, match="STORE_URL"):
        open_store("postgres://nope")


def test_rediss_url_uses_tls() -> None:
    store = open_store("rediss://user:secret@example.invalid:6380/0?prefix=app:")
    assert isinstance(store, RedisStore)
    pool = store._r.connection_pool
    assert pool.connection_class.__name__ == "SSLConnection"
    assert "secret" not in store._url  # error messages never carry the password


async def test_unreachable_redis_fails_fast_and_clearly() -> None:
    store = open_store(f"redis://127.0.0.1:{free_port()}/0?timeout=1")
    started = time.monotonic()
    with pytest.raises(StoreError, match="STORE_URL"):
        await store.ping()
    with pytest.raises(StoreUnavailable):
        await store.get("k")
    with pytest.raises(StoreUnavailable):
        await store.lease_acquire_fifo("g", "h", 1, 30, "q")
    assert time.monotonic() - started < QUICK
    await store.close()


@pytest.mark.skipif(redis_binary() is None, reason="redis-server is not installed")
async def test_redis_dying_mid_use_becomes_store_unavailable() -> None:
    url, proc = start_redis()
    store = open_store(redis_url_with(url, timeout="1"))
    try:
        await store.ping()
        await store.set("k", b"v")
        stop(proc)
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await store.get("k")
        assert time.monotonic() - started < QUICK
    finally:
        stop(proc)
        await store.close()


async def test_unreachable_dynamodb_fails_fast_and_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(key, "fake")
    store = open_store(f"dynamodb://t?region=us-east-1&endpoint_url=http://127.0.0.1:{free_port()}&timeout=1")
    started = time.monotonic()
    with pytest.raises(StoreError, match="STORE_URL"):
        await store.ping()
    with pytest.raises(StoreUnavailable):
        await store.get("k")
    assert time.monotonic() - started < QUICK
    await store.close()


async def test_missing_dynamodb_table_is_named_at_startup(moto_endpoint: str) -> None:
    store = open_store(f"dynamodb://no-such-table?region=us-east-1&endpoint_url={moto_endpoint}")
    with pytest.raises(StoreError, match=r"no-such-table.*create=1"):
        await store.ping()
    with pytest.raises(StoreUnavailable, match="no-such-table"):
        await store.lease_count("g")
    await store.close()


async def test_unusable_sqlite_path_is_named_at_startup(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    store = open_store(f"sqlite:///{tmp_path}/a-file/state.db")
    with pytest.raises(StoreError, match="STORE_URL"):
        await store.ping()
    await store.close()


async def test_sqlite_lock_wait_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SQLiteStore(path, timeout=0.2)  # a short lock wait; the bound below is generous
    await store.ping()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await store.set("k", b"v")
        assert time.monotonic() - started < QUICK
        assert await store.get("k") is None  # WAL: reads still work while a writer holds the lock
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    await store.set("k", b"v")
    await store.close()


async def test_sqlite_is_durable_across_restart_and_creates_parent_dirs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/deep/er/state.db"
    first = open_store(url)
    await first.ping()
    await first.set("k", b"kept")
    await first.incr("n", 2)
    assert await first.lease_acquire("g", "h", 1, 60)
    await first.close()
    second = open_store(url)
    assert await second.get("k") == b"kept"
    assert await second.incr("n") == 3
    assert await second.lease_holders("g") == ["h"]
    await second.close()


async def test_sqlite_is_atomic_across_processes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shared.db"
    script = textwrap.dedent(
        f"""
        import asyncio
        from qwen_server.store import open_store
        async def main():
            s = open_store({url!r})
            for i in range(40):
                await s.incr("n")
                await s.queue_push("q", f"{{id(s)}}-{{i}}", 60, limit=50)
            await s.close()
        asyncio.run(main())
        """
    )
    procs = [await asyncio.create_subprocess_exec(sys.executable, "-c", script) for _ in range(3)]
    for proc in procs:
        assert await asyncio.wait_for(proc.wait(), 60) == 0
    store = open_store(url)
    assert await store.get("n") == b"120"
    assert await store.queue_len("q") == 50  # the limit held across processes
    await store.close()
