"""The SQLite store runs statements on the event loop while the file is free and hands them to its worker
thread (which waits for the lock) while another process holds it; a busy file is never an error."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from qwen_server.store.sqlite import SQLiteStore


async def test_a_write_waits_for_a_lock_another_connection_holds_then_lands(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "state.db")
    await store.ping()
    await store.set("k", b"before")  # inline from here on
    other = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    other.execute("INSERT INTO kv (key, value, expires) VALUES ('theirs', x'01', NULL)")
    try:
        writing = asyncio.ensure_future(store.lease_acquire("g", "h1", 1, 60))
        await asyncio.sleep(0.05)
        assert not writing.done()  # waiting for the lock on the worker thread, not failed
        assert await store.get("k") == b"before"  # reads go on meanwhile (WAL)
    finally:
        other.execute("COMMIT")
        other.close()
    assert await asyncio.wait_for(writing, 10) is True
    assert await store.lease_holders("g") == ["h1"]
    assert await store.get("theirs") == b"\x01"
    assert await store.lease_acquire("g", "h2", 1, 60) is False  # the inline path sees the thread's write
    await store.close()


async def test_inline_and_threaded_stores_share_one_file(tmp_path: Path) -> None:
    inline = SQLiteStore(tmp_path / "state.db")
    threaded = SQLiteStore.from_url(f"sqlite:///{tmp_path / 'state.db'}?inline=0")
    await inline.ping()
    await threaded.ping()
    for _ in range(700):  # past the inline commits after which a checkpoint is asked of the worker thread
        await inline.incr("n")
    assert await threaded.get("n") == b"700"
    assert await threaded.lease_acquire("g", "a", 2, 60)
    assert await inline.lease_acquire("g", "b", 2, 60)
    assert not await inline.lease_acquire("g", "c", 2, 60)
    await threaded.lease_release_many([("g", "a"), ("g", "b")])
    assert await inline.lease_count("g") == 0
    await inline.close()
    await threaded.close()
