"""DynamoDB store: one table, conditional writes wherever two instances could race.

Why boto3 in threads and not aiobotocore: boto3 is already a dependency (and on Lambda's runtime), while
aiobotocore pins botocore to narrow ranges that fight the boto3 everybody else installs. A request makes at
most a handful of store calls, so a small thread pool costs nothing measurable next to the network round
trip; independent calls (the slot list and the queue check of an admission) run in parallel threads.

Table: key `pk` (S, hash) + `sk` (S, range). An item that expires carries `exp` (N, epoch seconds with ms)
and `expires_at` (N, the same rounded up to whole seconds), the TTL attribute: DynamoDB's TTL reads whole
epoch seconds only, while short leases and tests need sub-second expiry.
DynamoDB deletes expired items up to two days late, so every read and every condition compares
`exp` with this instance's clock itself (NTP-synced hosts: skew is milliseconds).

| item          | pk              | sk                  | attributes                                   |
|---------------|-----------------|---------------------|----------------------------------------------|
| kv value      | `kv#<key>`      | `=`                 | `v` (B) or `n` (N, counters), ttl; `lst`     |
| lease slot    | `lease#<group>` | `slot#00000`..      | `holder` (S), ttl                            |
| queue counter | `queue#<name>`  | `#seq`              | `n` (N), the last sequence handed out        |
| ticket        | `queue#<name>`  | `t#<seq, 20 digits>`| `ticket` (S), ttl                            |

`lst` (S) is set on the items of listed key families only: the hash key of the `listing` index.

Leases (`_dynamodb_leases.py`): one item per slot index, claimed by a conditional put.
`lease_acquire_fifo(ticket=...)` claims the slot and deletes the ticket in one TransactWriteItems. With
`ticket=None` the empty-queue check is a Query run in parallel with the slot Query, just before the put: not
atomic, so a newcomer can overtake a waiter that queued within that one round trip; the cap itself is always
exact.

Queues (`_dynamodb_queues.py`): a ticket's sequence comes from ADD on the `#seq` item, its position is the
number of live tickets with a smaller sort key. ADD then put is not one atomic step: a push counts only the
predecessors already written, so pushes racing each other can see a position too low and overrun the
limit by at most the number of pushes in flight at that moment (the scheduler's limits are soft anyway).
The alternative, bumping the counter by compare-and-set in one transaction with the put, is exact but under
a burst of pushes every loser retries and the order of service becomes the order of lucky retries, not of
arrival (measured: a burst ticket starved for seconds); ADD keeps arrival order.

`scan(prefix)` reads the families listings use (batches, files, video jobs, usage, pool statistics) through a
sparse index and a consistent batch read, never a table Scan (`_dynamodb_listing.py`); any other prefix is a
filtered Scan, meant for tests and operators, not for the request path.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from qwen_server.core.errors import StoreUnavailable
from qwen_server.store._codec import decode_number, encode_number
from qwen_server.store._dynamodb_leases import SlotLeases
from qwen_server.store._dynamodb_listing import Listings
from qwen_server.store._dynamodb_queues import TicketQueues
from qwen_server.store._dynamodb_table import Table
from qwen_server.store._dynamodb_wire import (
    ATTR,
    GONE,
    LIVE,
    SET_EXPIRY,
    Item,
    alive,
    code,
    create_table,
    expiry,
    expiry_values,
    family,
    kv_item,
    kv_key,
    kv_value,
    num,
    when,
)
from qwen_server.store.base import FIRST_REFUSED, PAIR_TAKEN, SECOND_REFUSED, Lease, StoreError

T = TypeVar("T")


class DynamoDBStore:
    max_value_bytes: int | None = 300 * 1024  # an item stops at 400 KB, keys and attributes included

    def __init__(
        self,
        table: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        create: bool = False,
        timeout: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.table = table
        self._create = create
        self._clock = clock
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="dynamodb-store")
        self._t = Table(table, region=region, endpoint_url=endpoint_url, timeout=timeout, clock=clock)
        self._queues = TicketQueues(self._t)
        self._leases = SlotLeases(self._t, self._queues)
        self._listings = Listings(self._t)

    @classmethod
    def from_url(cls, url: str) -> DynamoDBStore:
        """dynamodb://TABLE?region=us-east-1&endpoint_url=http://host:port&create=1&timeout=2"""
        parts = urlsplit(url)
        table = parts.netloc or parts.path.lstrip("/")
        if not table:
            raise StoreError(f"STORE_URL {url!r} names no table: use dynamodb://TABLE?region=...")
        q = {k: v[0] for k, v in parse_qs(parts.query).items()}
        return cls(
            table,
            region=q.get("region"),
            endpoint_url=q.get("endpoint_url"),
            create=q.get("create", "0").lower() in ("1", "true", "yes"),
            timeout=float(q.get("timeout", 2.0)),
        )

    # ---- plumbing ------------------------------------------------------------------------------------
    @property
    def _c(self) -> Any:
        return self._t.c

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, fn, *args)
        except ClientError as exc:
            if code(exc) == "ResourceNotFoundException":
                raise StoreUnavailable(f"DynamoDB table {self.table!r} (STORE_URL) does not exist") from exc
            raise StoreUnavailable(f"DynamoDB table {self.table!r} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise StoreUnavailable(f"DynamoDB table {self.table!r} is unreachable: {exc}") from exc

    async def ping(self) -> None:
        def check() -> None:
            try:
                self._c.describe_table(TableName=self.table)
                if self._create:
                    self._listings.add_index()
                return
            except ClientError as exc:
                if code(exc) != "ResourceNotFoundException":
                    raise
            if not self._create:
                raise StoreError(
                    f"STORE_URL names DynamoDB table {self.table!r}, which does not exist; create it (pk S hash,"
                    " sk S range, TTL attribute expires_at, index `listing` on lst S + pk S: see template.yaml)"
                    " or add ?create=1 to STORE_URL"
                )
            if create_table(self._c, self.table):
                self._listings.mark_indexed()

        try:
            await asyncio.get_running_loop().run_in_executor(self._pool, check)
        except (ClientError, BotoCoreError) as exc:
            raise StoreError(
                f"STORE_URL names DynamoDB table {self.table!r}, which is unusable: {exc}"
            ) from exc

    async def close(self) -> None:
        self._pool.shutdown(wait=False)
        self._t.close()

    # ---- key / value ---------------------------------------------------------------------------------
    def _get(self, key: str) -> bytes | None:
        item = self._c.get_item(TableName=self.table, Key=kv_key(key), ConsistentRead=True).get("Item")
        return kv_value(item, self._clock())

    async def get(self, key: str) -> bytes | None:
        return await self._call(self._get, key)

    def _get_many(self, keys: list[str]) -> list[bytes | None]:
        found: dict[str, bytes | None] = {}
        unique = list(dict.fromkeys(keys))
        for i in range(0, len(unique), 100):
            request: Any = {
                self.table: {"Keys": [kv_key(k) for k in unique[i : i + 100]], "ConsistentRead": True}
            }
            for attempt in range(6):
                reply = self._c.batch_get_item(RequestItems=request)
                now = self._clock()
                for item in reply.get("Responses", {}).get(self.table, []):
                    found[item["pk"]["S"][3:]] = kv_value(item, now)
                request = reply.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(0.01 * 2**attempt)
            if request:
                raise StoreUnavailable(f"DynamoDB table {self.table!r} kept throttling a batch read")
        return [found.get(k) for k in keys]

    async def get_many(self, keys: list[str]) -> list[bytes | None]:
        return await self._call(self._get_many, keys) if keys else []

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        def put() -> None:
            self._c.put_item(TableName=self.table, Item=kv_item(key, value, ttl, self._clock()))

        await self._call(put)

    async def set_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        return await self.compare_and_set(key, None, value, ttl)

    async def compare_and_set(
        self, key: str, expected: bytes | None, value: bytes, ttl: float | None = None
    ) -> bool:
        def cas() -> bool:
            now = self._clock()
            values: dict[str, Any] = {":now": when(now)}
            if expected is None:
                condition = GONE
            else:
                values[":e"] = {"B": expected}
                condition = f"v = :e AND {LIVE}"
                try:  # a counter written by incr lives in `n`; compare it by its canonical spelling
                    number = decode_number(expected)
                    if encode_number(number) == expected:
                        values[":en"] = num(number)
                        condition = f"(v = :e OR n = :en) AND {LIVE}"
                except ValueError:
                    pass
            return self._t.put_if(kv_item(key, value, ttl, now), condition, values)

        return await self._call(cas)

    async def delete(self, key: str) -> None:
        await self._call(lambda: self._c.delete_item(TableName=self.table, Key=kv_key(key)))

    def _incr(self, key: str, amount: float, ttl: float | None) -> float:
        listed = family(key)
        for _ in range(8):
            now = self._clock()
            values: dict[str, Any] = {":a": num(amount), ":now": when(now)}
            sets = []
            if ttl is not None:
                sets.append(SET_EXPIRY.removeprefix("SET "))
                values.update(expiry_values(now + ttl))
            if listed is not None:  # a counter listings read (usage): in the listing index
                sets.append(f"{ATTR} = :lst")
                values[":lst"] = {"S": listed}
            expression = "ADD n :a" + (" SET " + ", ".join(sets) if sets else "")
            try:
                reply = self._c.update_item(
                    TableName=self.table,
                    Key=kv_key(key),
                    UpdateExpression=expression,
                    ConditionExpression=f"attribute_not_exists(v) AND {LIVE}",
                    ExpressionAttributeValues=values,
                    ReturnValues="UPDATED_NEW",
                )
                return float(reply["Attributes"]["n"]["N"])
            except ClientError as exc:
                if code(exc) != "ConditionalCheckFailedException":
                    raise
            # expired, or a bytes value written by set(): replace it with a counter, guarded by what we saw
            item = self._c.get_item(TableName=self.table, Key=kv_key(key), ConsistentRead=True).get("Item")
            if item is None:
                continue
            live = alive(item, now)
            start = decode_number(bytes(item["v"]["B"])) if live and "v" in item else 0.0
            new: Item = {**kv_key(key), "n": num(start + amount)}
            if listed is not None:
                new[ATTR] = {"S": listed}
            if ttl is not None:
                new.update(expiry(now + ttl))
            elif live and "exp" in item:
                new.update({k: item[k] for k in ("exp", "expires_at") if k in item})
            if live and "v" in item:
                guarded = self._t.put_if(new, "v = :old", {":old": item["v"]})
            else:
                guarded = self._t.put_if(new, "exp <= :now", {":now": when(now)})
            if guarded:
                return start + amount
        raise StoreUnavailable(f"DynamoDB counter {key!r} stayed contended")

    async def incr(self, key: str, amount: float = 1.0, ttl: float | None = None) -> float:
        return await self._call(self._incr, key, amount, ttl)

    def _scan(self, prefix: str) -> dict[str, bytes]:
        keys = self._listings.keys(prefix)
        if keys is None:
            return self._listings.scan(prefix)
        values = self._get_many(keys)
        return {k: v for k, v in zip(keys, values, strict=True) if v is not None}

    async def scan(self, prefix: str) -> dict[str, bytes]:
        return await self._call(self._scan, prefix)

    # ---- leases (_dynamodb_leases.py) ---------------------------------------------------------------
    async def lease_acquire(self, group: str, holder: str, limit: int, ttl: float) -> bool:
        slots = await self._call(self._leases.slots, group)
        return await self._call(self._leases.claim, group, holder, limit, ttl, slots, None)

    async def lease_acquire_fifo(
        self, group: str, holder: str, limit: int, ttl: float, queue: str, ticket: str | None = None
    ) -> bool:
        if ticket is None:
            slots, waiting = await asyncio.gather(
                self._call(self._leases.slots, group), self._call(self._queues.has_live, queue)
            )
            if waiting:
                return False
            return await self._call(self._leases.claim, group, holder, limit, ttl, slots, None)
        slots, sk = await asyncio.gather(
            self._call(self._leases.slots, group), self._call(self._queues.find, queue, ticket)
        )
        if sk is None:
            return False
        return await self._call(self._leases.claim, group, holder, limit, ttl, slots, (queue, ticket, sk))

    async def lease_acquire_pair(self, first: Lease, queue: str, second: Lease) -> int:
        if not await self.lease_acquire_fifo(first.group, first.holder, first.limit, first.ttl, queue):
            return FIRST_REFUSED
        if not await self.lease_acquire(*second):
            await self.lease_release(first.group, first.holder)
            return SECOND_REFUSED
        return PAIR_TAKEN

    async def lease_renew(self, group: str, holder: str, ttl: float) -> bool:
        return await self._call(self._leases.renew, group, holder, ttl)

    async def lease_release(self, group: str, holder: str) -> None:
        await self._call(self._leases.release, group, holder)

    async def lease_release_many(self, leases: list[tuple[str, str]]) -> None:
        await asyncio.gather(*(self._call(self._leases.release, group, holder) for group, holder in leases))

    async def lease_count(self, group: str) -> int:
        return len(await self.lease_holders(group))

    async def lease_holders(self, group: str) -> list[str]:
        return await self._call(self._leases.holders, group)

    # ---- queues (_dynamodb_queues.py) ----------------------------------------------------------------
    async def queue_push(self, queue: str, ticket: str, ttl: float, limit: int) -> int | None:
        return await self._call(self._queues.push, queue, ticket, ttl, limit)

    async def queue_position(self, queue: str, ticket: str) -> int | None:
        return await self._call(self._queues.position, queue, ticket)

    async def queue_head(self, queue: str, n: int) -> list[str]:
        return await self._call(self._queues.head, queue, n) if n > 0 else []

    async def queue_touch(self, queue: str, ticket: str, ttl: float) -> bool:
        return await self._call(self._queues.touch, queue, ticket, ttl)

    async def queue_remove(self, queue: str, ticket: str) -> None:
        await self._call(self._queues.remove, queue, ticket)

    async def queue_pop(self, queue: str) -> str | None:
        return await self._call(self._queues.pop, queue)

    async def queue_len(self, queue: str) -> int:
        return await self._call(self._queues.count, queue)
