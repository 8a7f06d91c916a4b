"""The store protocol: exactly the primitives the pool, scheduler, token cache and file/batch metadata need.

All values are bytes (callers encode with orjson). Every operation that must be atomic across instances is
one primitive here, so each backend can implement it with its own atomic tool (a lock in memory, a
transaction in SQLite, a Lua script in Redis, a conditional write in DynamoDB). `ttl` is in seconds; an
expired item behaves as absent in every read and condition, whatever the backend's own expiry lag.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


class StoreError(Exception):
    """The backend is missing, misconfigured or unreachable."""


@runtime_checkable
class Store(Protocol):
    # ---- key / value ---------------------------------------------------------------------------------
    async def get(self, key: str) -> bytes | None: ...

    async def get_many(self, keys: list[str]) -> list[bytes | None]: ...

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None: ...

    async def set_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Write only when no live value exists; True if written."""
        ...

    async def compare_and_set(
        self, key: str, expected: bytes | None, value: bytes, ttl: float | None = None
    ) -> bool:
        """Write only when the live value equals `expected` (None: absent); True if written."""
        ...

    async def delete(self, key: str) -> None: ...

    async def incr(self, key: str, amount: float = 1.0, ttl: float | None = None) -> float:
        """Atomically add `amount` to a numeric counter (created at 0) and return the new value."""
        ...

    async def scan(self, prefix: str) -> dict[str, bytes]:
        """All live key/value pairs whose key starts with `prefix` (small sets only: metadata, listings)."""
        ...

    # ---- leases: a counted semaphore whose slots expire unless renewed -------------------------------
    async def lease_acquire(self, group: str, holder: str, limit: int, ttl: float) -> bool:
        """Take a slot in `group` for `holder` if fewer than `limit` live slots are held."""
        ...

    async def lease_renew(self, group: str, holder: str, ttl: float) -> bool: ...

    async def lease_release(self, group: str, holder: str) -> None: ...

    async def lease_count(self, group: str) -> int: ...

    # ---- ordered queues: FIFO tickets ----------------------------------------------------------------
    async def queue_push(self, queue: str, ticket: str, ttl: float, limit: int) -> int | None:
        """Append `ticket` unless the queue already holds `limit` live tickets; its 0-based position, or None."""
        ...

    async def queue_position(self, queue: str, ticket: str) -> int | None:
        """0-based position among live tickets, or None when absent or expired."""
        ...

    async def queue_touch(self, queue: str, ticket: str, ttl: float) -> bool: ...

    async def queue_remove(self, queue: str, ticket: str) -> None: ...

    async def queue_len(self, queue: str) -> int: ...

    async def close(self) -> None: ...
