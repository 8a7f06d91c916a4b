"""SQLite store: durable state for one machine, shared safely by several processes through one file.

Why it looks like this:
- stdlib `sqlite3` only. WAL journal: readers never block the writer (the scheduler polls while others write).
  `synchronous=NORMAL` keeps every committed transaction across a process crash; a power cut may lose the
  last few. A commit appends to the WAL without an fsync; checkpoints (which do sync) run on a worker thread.
- Every read-modify-write runs in `BEGIN IMMEDIATE`, which takes the file's write lock up front, so the
  check and the write are atomic across processes.
- Two ways to run a statement, one connection each. An uncontended transaction is a few tens of
  microseconds of local file I/O, far less than handing it to a thread and back (with the event loop busy,
  a worker thread waits for the GIL up to its 5 ms switch interval at every statement: one thread serving
  every request was the gateway's bottleneck at 32 clients). So each operation first runs inline, on the
  event loop's own connection, with no lock wait at all (`busy_timeout = 0`). Only when the file is locked
  by another process (or a checkpoint) does it go to the worker thread's connection, which waits for the
  lock up to `busy_timeout` (default 2 s) and then surfaces `StoreUnavailable` instead of hanging a
  request. `inline=False` (URL `?inline=0`) sends everything to the thread (tests of cancellation use it:
  there every await is real).
- Expiry is compared in every query (`expires > now`, wall clock of this machine); expired rows are also
  pruned by the writes that touch their group, and kv rows by an occasional sweep.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit

from qwen_server.core.errors import StoreUnavailable
from qwen_server.store._codec import decode_number, encode_number
from qwen_server.store.base import FIRST_REFUSED, PAIR_TAKEN, SECOND_REFUSED, Lease, StoreError

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY, value BLOB NOT NULL, expires REAL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_expires ON kv(expires) WHERE expires IS NOT NULL;
CREATE TABLE IF NOT EXISTS leases (
    grp TEXT NOT NULL, holder TEXT NOT NULL, expires REAL NOT NULL, PRIMARY KEY (grp, holder)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS queue (
    name TEXT NOT NULL, ticket TEXT NOT NULL, seq INTEGER NOT NULL, expires REAL NOT NULL,
    PRIMARY KEY (name, ticket)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS queue_order ON queue(name, seq);
"""

_SWEEP_EVERY = 256  # kv writes between two deletions of expired kv rows
_CHECKPOINT_EVERY = 500  # inline commits between two checkpoints asked of the worker thread
_PREFIX_END = "\U0010ffff"  # sorts after every character a key can continue with


class SQLiteStore:
    max_value_bytes: int | None = None

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Callable[[], float] = time.time,
        timeout: float = 2.0,
        inline: bool = True,
    ):
        self.path = Path(path)
        self._clock = clock
        self._timeout = timeout
        self._inline = inline
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        self._conn: sqlite3.Connection | None = None  # the worker thread's; waits for locks
        self._loop_conn: sqlite3.Connection | None = None  # the event loop thread's; never waits
        self._loop_thread: int | None = None
        self._ready = False  # the schema exists (made once by the worker thread's connection)
        self._writes = 0
        self._commits = 0  # inline commits since the last checkpoint was asked for
        self._checkpointing = False
        self._lock = threading.Lock()  # guards lazy opening only

    @classmethod
    def from_url(cls, url: str) -> SQLiteStore:
        """`sqlite:///relative/path.db` or `sqlite:////absolute/path.db`; `?timeout=SECONDS` for lock waits,
        `?inline=0` to run every statement on the worker thread."""
        parts = urlsplit(url)
        path = url.split("?", 1)[0][len("sqlite:///") :]
        if not url.lower().startswith("sqlite:///") or not path:
            raise StoreError(f"STORE_URL {url!r} is not sqlite:///path/to/file.db")
        query = parse_qs(parts.query)
        timeout = float(query["timeout"][0]) if "timeout" in query else 2.0
        inline = query.get("inline", ["1"])[0].lower() not in ("0", "false", "no")
        return cls(path, timeout=timeout, inline=inline)

    # ---- plumbing ------------------------------------------------------------------------------------
    def _connect(self, busy_ms: int) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=busy_ms / 1000, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def _open(self) -> sqlite3.Connection:
        with self._lock:
            if self._conn is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = self._connect(int(self._timeout * 1000))
                conn.execute("PRAGMA journal_mode = WAL")
                conn.executescript(_SCHEMA)
                self._conn = conn
                self._ready = True
            return self._conn

    def _loop_connection(self) -> sqlite3.Connection | None:
        """The event loop thread's connection, or None where statements must go to the worker thread (not
        opened yet, inline disabled, or called from another thread than the one that opened it)."""
        if not (self._inline and self._ready):
            return None
        if self._loop_conn is None:
            conn = self._connect(0)
            conn.execute("PRAGMA wal_autocheckpoint = 0")  # checkpoints sync: the worker thread runs them
            self._loop_conn, self._loop_thread = conn, threading.get_ident()
        return self._loop_conn if self._loop_thread == threading.get_ident() else None

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """`fn` on the worker thread's connection, which waits for the file's lock up to `timeout`."""

        def job() -> T:
            return fn(self._open())

        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, job)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"SQLite store {self.path} failed: {exc}") from exc
        except OSError as exc:
            raise StoreUnavailable(f"SQLite store {self.path} is not usable: {exc}") from exc

    async def _either(self, body: Callable[[sqlite3.Connection], T], writes: bool) -> T:
        """`body` inline when the file is free, else on the worker thread (see the module doc)."""
        conn = self._loop_connection()
        if conn is not None:
            try:
                result = body(conn)
            except sqlite3.OperationalError as exc:
                if not _locked(exc):
                    raise StoreUnavailable(f"SQLite store {self.path} failed: {exc}") from exc
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"SQLite store {self.path} failed: {exc}") from exc
            else:
                if writes:
                    self._committed()
                return result
        return await self._run(body)

    def _committed(self) -> None:
        """Ask the worker thread for a checkpoint every `_CHECKPOINT_EVERY` inline commits (never waited for)."""
        self._commits += 1
        if self._commits < _CHECKPOINT_EVERY or self._checkpointing:
            return
        self._commits = 0
        self._checkpointing = True

        def checkpoint() -> None:
            try:
                self._open().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error:
                pass  # busy or failing: the next one tries again, and the WAL stays readable meanwhile
            finally:
                self._checkpointing = False

        try:
            self._executor.submit(checkpoint)
        except RuntimeError:  # closed
            self._checkpointing = False

    async def _tx(self, fn: Callable[[sqlite3.Connection, float], T]) -> T:
        """Run `fn` inside BEGIN IMMEDIATE: atomic against every other process sharing the file."""

        def body(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn, self._clock())
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

        return await self._either(body, writes=True)

    async def _read(self, fn: Callable[[sqlite3.Connection, float], T]) -> T:
        """Run `fn` in one deferred read transaction: a consistent snapshot that never blocks writers."""

        def body(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN")
            try:
                return fn(conn, self._clock())
            finally:
                conn.execute("COMMIT")

        return await self._either(body, writes=False)

    async def ping(self) -> None:
        try:
            await self._run(lambda conn: conn.execute("SELECT 1 FROM kv LIMIT 1").fetchall())
        except StoreUnavailable as exc:
            raise StoreError(f"STORE_URL names SQLite file {self.path} that cannot be used: {exc}") from exc

    async def close(self) -> None:
        def shut() -> None:
            with self._lock:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None

        if self._loop_conn is not None:
            self._loop_conn.close()
            self._loop_conn = None
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, shut)
        self._executor.shutdown(wait=False)

    # ---- key / value ---------------------------------------------------------------------------------
    @staticmethod
    def _live_value(conn: sqlite3.Connection, key: str, now: float) -> bytes | None:
        row = conn.execute(
            "SELECT value FROM kv WHERE key = ? AND (expires IS NULL OR expires > ?)", (key, now)
        ).fetchone()
        return None if row is None else bytes(row[0])

    def _put(
        self, conn: sqlite3.Connection, key: str, value: bytes, expires: float | None, now: float
    ) -> None:
        conn.execute(
            "INSERT INTO kv (key, value, expires) VALUES (?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires = excluded.expires",
            (key, value, expires),
        )
        self._writes += 1
        if self._writes >= _SWEEP_EVERY:
            self._writes = 0
            conn.execute("DELETE FROM kv WHERE expires IS NOT NULL AND expires <= ?", (now,))

    async def get(self, key: str) -> bytes | None:
        return await self._read(lambda conn, now: self._live_value(conn, key, now))

    async def get_many(self, keys: list[str]) -> list[bytes | None]:
        def fn(conn: sqlite3.Connection, now: float) -> list[bytes | None]:
            found: dict[str, bytes] = {}
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT key, value FROM kv WHERE key IN ({marks}) AND (expires IS NULL OR expires > ?)",
                    (*chunk, now),
                )
                found.update((k, bytes(v)) for k, v in rows)
            return [found.get(k) for k in keys]

        return await self._read(fn) if keys else []

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        await self._tx(lambda conn, now: self._put(conn, key, value, _expiry(now, ttl), now))

    async def set_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        return await self.compare_and_set(key, None, value, ttl)

    async def compare_and_set(
        self, key: str, expected: bytes | None, value: bytes, ttl: float | None = None
    ) -> bool:
        def fn(conn: sqlite3.Connection, now: float) -> bool:
            if self._live_value(conn, key, now) != expected:
                return False
            self._put(conn, key, value, _expiry(now, ttl), now)
            return True

        return await self._tx(fn)

    async def delete(self, key: str) -> None:
        await self._tx(lambda conn, now: conn.execute("DELETE FROM kv WHERE key = ?", (key,)))

    async def incr(self, key: str, amount: float = 1.0, ttl: float | None = None) -> float:
        def fn(conn: sqlite3.Connection, now: float) -> float:
            row = conn.execute(
                "SELECT value, expires FROM kv WHERE key = ? AND (expires IS NULL OR expires > ?)", (key, now)
            ).fetchone()
            value = (decode_number(bytes(row[0])) if row else 0.0) + amount
            expires = row[1] if row is not None and ttl is None else _expiry(now, ttl)
            self._put(conn, key, encode_number(value), expires, now)
            return value

        return await self._tx(fn)

    async def scan(self, prefix: str) -> dict[str, bytes]:
        def fn(conn: sqlite3.Connection, now: float) -> dict[str, bytes]:
            rows = conn.execute(
                "SELECT key, value FROM kv WHERE key >= ? AND key < ? AND (expires IS NULL OR expires > ?)",
                (prefix, prefix + _PREFIX_END, now),
            )
            return {k: bytes(v) for k, v in rows if k.startswith(prefix)}

        return await self._read(fn)

    # ---- leases --------------------------------------------------------------------------------------
    @staticmethod
    def _take(conn: sqlite3.Connection, group: str, holder: str, limit: int, ttl: float, now: float) -> bool:
        conn.execute("DELETE FROM leases WHERE grp = ? AND expires <= ?", (group, now))
        held = conn.execute("SELECT 1 FROM leases WHERE grp = ? AND holder = ?", (group, holder)).fetchone()
        if held is None:
            (count,) = conn.execute("SELECT COUNT(*) FROM leases WHERE grp = ?", (group,)).fetchone()
            if count >= limit:
                return False
        conn.execute(
            "INSERT INTO leases (grp, holder, expires) VALUES (?, ?, ?) "
            "ON CONFLICT(grp, holder) DO UPDATE SET expires = excluded.expires",
            (group, holder, now + ttl),
        )
        return True

    async def lease_acquire(self, group: str, holder: str, limit: int, ttl: float) -> bool:
        return await self._tx(lambda conn, now: self._take(conn, group, holder, limit, ttl, now))

    async def lease_acquire_fifo(
        self, group: str, holder: str, limit: int, ttl: float, queue: str, ticket: str | None = None
    ) -> bool:
        def fn(conn: sqlite3.Connection, now: float) -> bool:
            if ticket is None:
                gate = conn.execute(
                    "SELECT 1 FROM queue WHERE name = ? AND expires > ? LIMIT 1", (queue, now)
                ).fetchone()
                if gate is not None:
                    return False
            else:
                mine = conn.execute(
                    "SELECT 1 FROM queue WHERE name = ? AND ticket = ? AND expires > ?", (queue, ticket, now)
                ).fetchone()
                if mine is None:
                    return False
            if not self._take(conn, group, holder, limit, ttl, now):
                return False
            if ticket is not None:
                conn.execute("DELETE FROM queue WHERE name = ? AND ticket = ?", (queue, ticket))
            return True

        return await self._tx(fn)

    async def lease_acquire_pair(self, first: Lease, queue: str, second: Lease) -> int:
        def fn(conn: sqlite3.Connection, now: float) -> int:
            gate = conn.execute(
                "SELECT 1 FROM queue WHERE name = ? AND expires > ? LIMIT 1", (queue, now)
            ).fetchone()
            if gate is not None or not self._take(conn, *first, now):
                return FIRST_REFUSED
            if not self._take(conn, *second, now):
                conn.execute("DELETE FROM leases WHERE grp = ? AND holder = ?", (first.group, first.holder))
                return SECOND_REFUSED
            return PAIR_TAKEN

        return await self._tx(fn)

    async def lease_renew(self, group: str, holder: str, ttl: float) -> bool:
        def fn(conn: sqlite3.Connection, now: float) -> bool:
            cur = conn.execute(
                "UPDATE leases SET expires = ? WHERE grp = ? AND holder = ? AND expires > ?",
                (now + ttl, group, holder, now),
            )
            return cur.rowcount == 1

        return await self._tx(fn)

    async def lease_release(self, group: str, holder: str) -> None:
        await self._tx(
            lambda conn, now: conn.execute("DELETE FROM leases WHERE grp = ? AND holder = ?", (group, holder))
        )

    async def lease_release_many(self, leases: list[tuple[str, str]]) -> None:
        await self._tx(
            lambda conn, now: conn.executemany("DELETE FROM leases WHERE grp = ? AND holder = ?", leases)
        )

    async def lease_count(self, group: str) -> int:
        def fn(conn: sqlite3.Connection, now: float) -> int:
            sql = "SELECT COUNT(*) FROM leases WHERE grp = ? AND expires > ?"
            return int(conn.execute(sql, (group, now)).fetchone()[0])

        return await self._read(fn)

    async def lease_holders(self, group: str) -> list[str]:
        def fn(conn: sqlite3.Connection, now: float) -> list[str]:
            rows = conn.execute("SELECT holder FROM leases WHERE grp = ? AND expires > ?", (group, now))
            return [r[0] for r in rows]

        return await self._read(fn)

    # ---- queues --------------------------------------------------------------------------------------
    @staticmethod
    def _rank(conn: sqlite3.Connection, queue: str, ticket: str, now: float) -> int | None:
        row = conn.execute(
            "SELECT seq FROM queue WHERE name = ? AND ticket = ? AND expires > ?", (queue, ticket, now)
        ).fetchone()
        if row is None:
            return None
        (ahead,) = conn.execute(
            "SELECT COUNT(*) FROM queue WHERE name = ? AND seq < ? AND expires > ?", (queue, row[0], now)
        ).fetchone()
        return int(ahead)

    async def queue_push(self, queue: str, ticket: str, ttl: float, limit: int) -> int | None:
        def fn(conn: sqlite3.Connection, now: float) -> int | None:
            conn.execute("DELETE FROM queue WHERE name = ? AND expires <= ?", (queue, now))
            refreshed = conn.execute(
                "UPDATE queue SET expires = ? WHERE name = ? AND ticket = ?", (now + ttl, queue, ticket)
            ).rowcount
            if not refreshed:
                (count,) = conn.execute("SELECT COUNT(*) FROM queue WHERE name = ?", (queue,)).fetchone()
                if count >= limit:
                    return None
                conn.execute(
                    "INSERT INTO queue (name, ticket, seq, expires) "
                    "SELECT ?, ?, COALESCE(MAX(seq), 0) + 1, ? FROM queue WHERE name = ?",
                    (queue, ticket, now + ttl, queue),
                )
            return self._rank(conn, queue, ticket, now)

        return await self._tx(fn)

    async def queue_position(self, queue: str, ticket: str) -> int | None:
        return await self._read(lambda conn, now: self._rank(conn, queue, ticket, now))

    async def queue_head(self, queue: str, n: int) -> list[str]:
        def fn(conn: sqlite3.Connection, now: float) -> list[str]:
            rows = conn.execute(
                "SELECT ticket FROM queue WHERE name = ? AND expires > ? ORDER BY seq LIMIT ?",
                (queue, now, max(n, 0)),
            )
            return [r[0] for r in rows]

        return await self._read(fn)

    async def queue_touch(self, queue: str, ticket: str, ttl: float) -> bool:
        def fn(conn: sqlite3.Connection, now: float) -> bool:
            cur = conn.execute(
                "UPDATE queue SET expires = ? WHERE name = ? AND ticket = ? AND expires > ?",
                (now + ttl, queue, ticket, now),
            )
            return cur.rowcount == 1

        return await self._tx(fn)

    async def queue_remove(self, queue: str, ticket: str) -> None:
        await self._tx(
            lambda conn, now: conn.execute("DELETE FROM queue WHERE name = ? AND ticket = ?", (queue, ticket))
        )

    async def queue_pop(self, queue: str) -> str | None:
        def fn(conn: sqlite3.Connection, now: float) -> str | None:
            conn.execute("DELETE FROM queue WHERE name = ? AND expires <= ?", (queue, now))
            row = conn.execute("SELECT ticket FROM queue WHERE name = ? ORDER BY seq LIMIT 1", (queue,)).fetchone()
            if row is None:
                return None
            conn.execute("DELETE FROM queue WHERE name = ? AND ticket = ?", (queue, row[0]))
            return str(row[0])

        return await self._tx(fn)

    async def queue_len(self, queue: str) -> int:
        def fn(conn: sqlite3.Connection, now: float) -> int:
            sql = "SELECT COUNT(*) FROM queue WHERE name = ? AND expires > ?"
            return int(conn.execute(sql, (queue, now)).fetchone()[0])

        return await self._read(fn)


def _locked(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY / SQLITE_LOCKED: another connection holds the lock (the worker thread waits for it)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc) or "busy" in str(exc)


def _expiry(now: float, ttl: float | None) -> float | None:
    return None if ttl is None else now + ttl


__all__ = ["SQLiteStore"]
