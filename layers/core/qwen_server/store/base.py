"""The store protocol: exactly the primitives the pool, scheduler, token cache and file/batch metadata need.

All values are bytes (callers encode with orjson). Every operation that must be atomic across instances is
one primitive here, so each backend can implement it with its own atomic tool (a lock in memory, a
transaction in SQLite, a Lua script in Redis, a conditional write in DynamoDB). `ttl` is in seconds; an
expired item behaves as absent in every read and condition, whatever the backend's own expiry lag.

Errors: `ping()` raises `StoreError` (start-up: the backend is missing or misconfigured, the message names
STORE_URL); any other operation that cannot reach the backend raises `core.errors.StoreUnavailable` within a
few seconds rather than hanging the request.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable


class StoreError(Exception):
    """The backend is missing, misconfigured or unreachable."""


class Lease(NamedTuple):
    """One slot asked for in a lease group: `holder` takes it if fewer than `limit` live slots are held."""

    group: str
    holder: str
    limit: int
    ttl: float


PAIR_TAKEN, FIRST_REFUSED, SECOND_REFUSED = 0, 1, 2


@runtime_checkable
class Store(Protocol):
    max_value_bytes: int | None
    """The largest value the backend keeps under one key (DynamoDB: an item stops at 400 KB), None when only
    memory bounds it; a caller with larger values keeps them elsewhere (the blob store)."""

    async def ping(self) -> None:
        """Check the backend is reachable and ready (tables exist, ...); raises `StoreError` naming STORE_URL."""
        ...

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
        """Atomically add `amount` to a numeric counter (created at 0) and return the new value.

        With `ttl` the expiry is reset to now + ttl; without it a live counter keeps its expiry. `get` returns
        the counter as ASCII digits (b"3", b"2.5": see `store._codec.encode_number`)."""
        ...

    async def scan(self, prefix: str) -> dict[str, bytes]:
        """All live key/value pairs whose key starts with `prefix` (small sets only: metadata, listings)."""
        ...

    # ---- leases: a counted semaphore whose slots expire unless renewed -------------------------------
    async def lease_acquire(self, group: str, holder: str, limit: int, ttl: float) -> bool:
        """Take a slot in `group` for `holder` if fewer than `limit` live slots are held."""
        ...

    async def lease_acquire_fifo(
        self, group: str, holder: str, limit: int, ttl: float, queue: str, ticket: str | None = None
    ) -> bool:
        """`lease_acquire` gated by `queue`, so waiters are not overtaken.

        With `ticket=None` the slot is taken only while `queue` holds no live ticket (the admission fast
        path: one round trip when nobody waits). With a ticket, only while that ticket is live, and the
        ticket leaves the queue in the same step (a granted waiter never appears both queued and holding).
        Atomic on memory, SQLite and Redis; on DynamoDB the empty-queue check is a read just before the
        conditional write (see `store.dynamodb`)."""
        ...

    async def lease_acquire_pair(self, first: Lease, queue: str, second: Lease) -> int:
        """Both slots or neither, in one step (a request's class slot and its account slot, one round trip).

        `first` is gated by `queue` as `lease_acquire_fifo` without a ticket is. Answers `PAIR_TAKEN`,
        `FIRST_REFUSED` (someone is queued, or `first`'s group is full) or `SECOND_REFUSED` (`second`'s group
        is full); when refused, nothing is held. Atomic on memory, SQLite and Redis; on DynamoDB the second
        slot is taken after the first, which is given back if the second is refused."""
        ...

    async def lease_renew(self, group: str, holder: str, ttl: float) -> bool: ...

    async def lease_release(self, group: str, holder: str) -> None: ...

    async def lease_release_many(self, leases: list[tuple[str, str]]) -> None:
        """`lease_release` of each (group, holder), in one round trip where the backend allows."""
        ...

    async def lease_count(self, group: str) -> int: ...

    async def lease_holders(self, group: str) -> list[str]:
        """Live holders of `group` (order unspecified); the scheduler reads tenants from them."""
        ...

    # ---- ordered queues: FIFO tickets ----------------------------------------------------------------
    async def queue_push(self, queue: str, ticket: str, ttl: float, limit: int) -> int | None:
        """Append `ticket` unless the queue already holds `limit` live tickets; its 0-based position, or None.

        Pushing a ticket that is already queued keeps its place and refreshes its expiry. Exact on memory,
        SQLite and Redis; on DynamoDB pushes racing each other may overrun `limit` by those in flight."""
        ...

    async def queue_position(self, queue: str, ticket: str) -> int | None:
        """0-based position among live tickets, or None when absent or expired."""
        ...

    async def queue_head(self, queue: str, n: int) -> list[str]:
        """The first `n` live tickets, oldest first."""
        ...

    async def queue_touch(self, queue: str, ticket: str, ttl: float) -> bool: ...

    async def queue_remove(self, queue: str, ticket: str) -> None: ...

    async def queue_pop(self, queue: str) -> str | None:
        """Take the oldest live ticket out of the queue and answer it (None when the queue is empty): of
        several callers racing for one ticket exactly one gets it. Atomic on every backend (DynamoDB: a
        conditional delete, tried on the next ticket when another caller won)."""
        ...

    async def queue_len(self, queue: str) -> int: ...

    async def close(self) -> None: ...
