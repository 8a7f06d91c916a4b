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

| item          | pk              | sk                  | attributes                            |
|---------------|-----------------|---------------------|---------------------------------------|
| kv value      | `kv#<key>`      | `=`                 | `v` (B) or `n` (N, counters), ttl     |
| lease slot    | `lease#<group>` | `slot#00000`..      | `holder` (S), ttl                     |
| queue counter | `queue#<name>`  | `#seq`              | `n` (N), the last sequence handed out |
| ticket        | `queue#<name>`  | `t#<seq, 20 digits>`| `ticket` (S), ttl                     |

Leases: one item per slot index `0..limit-1`. Acquiring reads the group's slots (one Query), then claims a
free or expired index with a conditional put `attribute_not_exists(pk) OR exp <= :now`; a lost race
moves on to the next free index. Slots spread the writes of a busy class over `limit` items instead of one
hot counter (DynamoDB takes ~1,000 writes/s per item). `lease_acquire_fifo(ticket=...)` claims the slot and
deletes the ticket in one TransactWriteItems. With `ticket=None` the empty-queue check is a Query run in
parallel with the slot Query, just before the put: not atomic, so a newcomer can overtake a waiter that
queued within that one round trip; the cap itself is always exact.

Queues: a ticket's sequence comes from ADD on the `#seq` item, its position is the number of live tickets with
a smaller sort key (Query, ConsistentRead, Select COUNT). A push that finds `limit` live tickets ahead
deletes itself and reports the queue full. ADD then put is not one atomic step: a push counts only the
predecessors already written, so pushes racing each other can see a position too low and overrun the
limit by at most the number of pushes in flight at that moment (the scheduler's limits are soft anyway).
The alternative, bumping the counter by compare-and-set in one transaction with the put, is exact but under
a burst of pushes every loser retries and the order of service becomes the order of lucky retries, not of
arrival (measured: a burst ticket starved for seconds); ADD keeps arrival order. Expired tickets are
deleted (conditionally) by `queue_head` when it meets them. Slot and ticket sort keys are remembered per
instance; another instance finds them with a Query.

`scan(prefix)` is a table Scan with a filter: meant for small listings, not for the request path.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from qwen_server.core.errors import StoreUnavailable
from qwen_server.store._codec import decode_number, encode_number
from qwen_server.store._dynamodb_wire import (
    GONE,
    LIVE,
    SET_EXPIRY,
    TICKETS,
    Item,
    alive,
    code,
    create_table,
    expiry,
    expiry_values,
    new_client,
    num,
    ticket_sk,
    when,
)
from qwen_server.store.base import FIRST_REFUSED, PAIR_TAKEN, SECOND_REFUSED, Lease, StoreError

T = TypeVar("T")


class DynamoDBStore:
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
        self._region = region
        self._endpoint = endpoint_url
        self._create = create
        self._timeout = timeout
        self._clock = clock
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="dynamodb-store")
        self._client: Any = None
        self._lock = threading.Lock()
        self._slot_of: dict[tuple[str, str], str] = {}  # (group, holder) -> slot sk taken here
        self._ticket_of: dict[tuple[str, str], str] = {}  # (queue, ticket) -> ticket sk pushed here

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
        if self._client is None:
            with self._lock:
                if self._client is None:
                    config = Config(
                        connect_timeout=self._timeout,
                        read_timeout=self._timeout,
                        retries={"mode": "standard", "total_max_attempts": 2},
                        max_pool_connections=32,
                    )
                    self._client = new_client(
                        region_name=self._region, endpoint_url=self._endpoint, config=config
                    )
        return self._client

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

    def _query(self, pk: str, *, begins: str | None = None, limit: int | None = None) -> list[Item]:
        args: dict[str, Any] = {
            "TableName": self.table,
            "ConsistentRead": True,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
        }
        if begins is not None:
            args["KeyConditionExpression"] += " AND begins_with(sk, :b)"
            args["ExpressionAttributeValues"][":b"] = {"S": begins}
        if limit is not None:
            args["Limit"] = limit
        items: list[Item] = []
        while True:
            page = self._c.query(**args)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page or (limit is not None and len(items) >= limit):
                return items
            args["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _key(self, pk: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": sk}}

    async def ping(self) -> None:
        def check() -> None:
            try:
                self._c.describe_table(TableName=self.table)
                return
            except ClientError as exc:
                if code(exc) != "ResourceNotFoundException":
                    raise
            if not self._create:
                raise StoreError(
                    f"STORE_URL names DynamoDB table {self.table!r}, which does not exist; create it (pk S hash,"
                    " sk S range, TTL attribute expires_at) or add ?create=1 to STORE_URL"
                )
            create_table(self._c, self.table)

        try:
            await asyncio.get_running_loop().run_in_executor(self._pool, check)
        except (ClientError, BotoCoreError) as exc:
            raise StoreError(
                f"STORE_URL names DynamoDB table {self.table!r}, which is unusable: {exc}"
            ) from exc

    async def close(self) -> None:
        self._pool.shutdown(wait=False)
        if self._client is not None:
            self._client.close()

    # ---- key / value ---------------------------------------------------------------------------------
    @staticmethod
    def _kv(key: str) -> dict[str, Any]:
        return {"pk": {"S": f"kv#{key}"}, "sk": {"S": "="}}

    @staticmethod
    def _value(item: Item | None, now: float) -> bytes | None:
        if item is None or not alive(item, now):
            return None
        if "v" in item:
            return bytes(item["v"]["B"])
        return encode_number(float(item["n"]["N"]))

    def _get(self, key: str) -> bytes | None:
        item = self._c.get_item(TableName=self.table, Key=self._kv(key), ConsistentRead=True).get("Item")
        return self._value(item, self._clock())

    async def get(self, key: str) -> bytes | None:
        return await self._call(self._get, key)

    def _get_many(self, keys: list[str]) -> list[bytes | None]:
        found: dict[str, bytes | None] = {}
        unique = list(dict.fromkeys(keys))
        for i in range(0, len(unique), 100):
            request: Any = {
                self.table: {"Keys": [self._kv(k) for k in unique[i : i + 100]], "ConsistentRead": True}
            }
            for attempt in range(6):
                reply = self._c.batch_get_item(RequestItems=request)
                now = self._clock()
                for item in reply.get("Responses", {}).get(self.table, []):
                    found[item["pk"]["S"][3:]] = self._value(item, now)
                request = reply.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(0.01 * 2**attempt)
            if request:
                raise StoreUnavailable(f"DynamoDB table {self.table!r} kept throttling a batch read")
        return [found.get(k) for k in keys]

    async def get_many(self, keys: list[str]) -> list[bytes | None]:
        return await self._call(self._get_many, keys) if keys else []

    def _kv_item(self, key: str, value: bytes, ttl: float | None, now: float) -> Item:
        item: Item = {**self._kv(key), "v": {"B": value}}
        if ttl is not None:
            item.update(expiry(now + ttl))
        return item

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        def put() -> None:
            self._c.put_item(TableName=self.table, Item=self._kv_item(key, value, ttl, self._clock()))

        await self._call(put)

    def _put_if(self, item: Item, condition: str, values: dict[str, Any]) -> bool:
        try:
            self._c.put_item(
                TableName=self.table,
                Item=item,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
            return True
        except ClientError as exc:
            if code(exc) == "ConditionalCheckFailedException":
                return False
            raise

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
            return self._put_if(self._kv_item(key, value, ttl, now), condition, values)

        return await self._call(cas)

    async def delete(self, key: str) -> None:
        await self._call(lambda: self._c.delete_item(TableName=self.table, Key=self._kv(key)))

    def _incr(self, key: str, amount: float, ttl: float | None) -> float:
        for _ in range(8):
            now = self._clock()
            values: dict[str, Any] = {":a": num(amount), ":now": when(now)}
            expression = "ADD n :a"
            if ttl is not None:
                expression += " " + SET_EXPIRY
                values.update(expiry_values(now + ttl))
            try:
                reply = self._c.update_item(
                    TableName=self.table,
                    Key=self._kv(key),
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
            item = self._c.get_item(TableName=self.table, Key=self._kv(key), ConsistentRead=True).get("Item")
            if item is None:
                continue
            live = alive(item, now)
            start = decode_number(bytes(item["v"]["B"])) if live and "v" in item else 0.0
            new: Item = {**self._kv(key), "n": num(start + amount)}
            if ttl is not None:
                new.update(expiry(now + ttl))
            elif live and "exp" in item:
                new.update({k: item[k] for k in ("exp", "expires_at") if k in item})
            if live and "v" in item:
                guarded = self._put_if(new, "v = :old", {":old": item["v"]})
            else:
                guarded = self._put_if(new, "exp <= :now", {":now": when(now)})
            if guarded:
                return start + amount
        raise StoreUnavailable(f"DynamoDB counter {key!r} stayed contended")

    async def incr(self, key: str, amount: float = 1.0, ttl: float | None = None) -> float:
        return await self._call(self._incr, key, amount, ttl)

    def _scan(self, prefix: str) -> dict[str, bytes]:
        args: dict[str, Any] = {
            "TableName": self.table,
            "ConsistentRead": True,
            "FilterExpression": f"begins_with(pk, :p) AND {LIVE}",
            "ExpressionAttributeValues": {":p": {"S": f"kv#{prefix}"}, ":now": when(self._clock())},
        }
        out: dict[str, bytes] = {}
        now = self._clock()
        while True:
            page = self._c.scan(**args)
            for item in page.get("Items", []):
                value = self._value(item, now)
                if value is not None:
                    out[item["pk"]["S"][3:]] = value
            if "LastEvaluatedKey" not in page:
                return out
            args["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    async def scan(self, prefix: str) -> dict[str, bytes]:
        return await self._call(self._scan, prefix)

    # ---- leases --------------------------------------------------------------------------------------
    def _slots(self, group: str) -> list[Item]:
        return self._query(f"lease#{group}")

    def _find_slot(self, group: str, holder: str) -> str | None:
        sk = self._slot_of.get((group, holder))
        if sk is not None:
            return sk
        for item in self._slots(group):
            if item["holder"]["S"] == holder:
                return str(item["sk"]["S"])
        return None

    def _renew(self, group: str, holder: str, ttl: float, sk: str | None = None) -> bool:
        sk = sk or self._find_slot(group, holder)
        if sk is None:
            return False
        now = self._clock()
        try:
            self._c.update_item(
                TableName=self.table,
                Key=self._key(f"lease#{group}", sk),
                UpdateExpression=SET_EXPIRY,
                ConditionExpression="holder = :h AND exp > :now",
                ExpressionAttributeValues={
                    ":h": {"S": holder},
                    ":now": when(now),
                    **expiry_values(now + ttl),
                },
            )
        except ClientError as exc:
            if code(exc) != "ConditionalCheckFailedException":
                raise
            self._slot_of.pop((group, holder), None)
            return False
        self._slot_of[(group, holder)] = sk
        return True

    def _claim(
        self,
        group: str,
        holder: str,
        limit: int,
        ttl: float,
        slots: list[Item],
        ticket: tuple[str, str, str] | None,
    ) -> bool:
        """Take a free slot seen in `slots`; with `ticket` (queue, id, sk) delete that ticket atomically."""
        now = self._clock()
        live = {item["sk"]["S"]: item for item in slots if alive(item, now)}
        for sk, item in live.items():
            if item["holder"]["S"] == holder and self._renew(group, holder, ttl, sk):
                if ticket is not None:
                    self._remove_ticket(*ticket)
                return True
        if len(live) >= limit:
            return False
        free = [f"slot#{i:05d}" for i in range(limit) if f"slot#{i:05d}" not in live]
        random.shuffle(free)  # instances racing for a slot spread over the free ones
        for sk in free:
            put: dict[str, Any] = {
                "TableName": self.table,
                "Item": {
                    **self._key(f"lease#{group}", sk),
                    "holder": {"S": holder},
                    **expiry(now + ttl),
                },
                "ConditionExpression": GONE,
                "ExpressionAttributeValues": {":now": when(now)},
            }
            if ticket is None:
                if not self._put_if(put["Item"], GONE, {":now": when(now)}):
                    continue
            else:
                queue, ticket_id, ticket_key = ticket
                delete = {
                    "TableName": self.table,
                    "Key": self._key(f"queue#{queue}", ticket_key),
                    "ConditionExpression": "ticket = :t AND exp > :now",
                    "ExpressionAttributeValues": {":t": {"S": ticket_id}, ":now": when(now)},
                }
                try:
                    self._c.transact_write_items(TransactItems=[{"Put": put}, {"Delete": delete}])
                except ClientError as exc:
                    if code(exc) != "TransactionCanceledException":
                        raise
                    reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
                    if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                        self._ticket_of.pop((queue, ticket_id), None)
                        return False  # the ticket expired or was removed: this waiter is gone
                    continue
                self._ticket_of.pop((queue, ticket_id), None)
            self._slot_of[(group, holder)] = sk
            return True
        return False

    async def lease_acquire(self, group: str, holder: str, limit: int, ttl: float) -> bool:
        slots = await self._call(self._slots, group)
        return await self._call(self._claim, group, holder, limit, ttl, slots, None)

    async def lease_acquire_fifo(
        self, group: str, holder: str, limit: int, ttl: float, queue: str, ticket: str | None = None
    ) -> bool:
        if ticket is None:
            slots, waiting = await asyncio.gather(
                self._call(self._slots, group), self._call(self._has_live_ticket, queue)
            )
            if waiting:
                return False
            return await self._call(self._claim, group, holder, limit, ttl, slots, None)
        slots, sk = await asyncio.gather(
            self._call(self._slots, group), self._call(self._find_ticket, queue, ticket)
        )
        if sk is None:
            return False
        return await self._call(self._claim, group, holder, limit, ttl, slots, (queue, ticket, sk))

    async def lease_acquire_pair(self, first: Lease, queue: str, second: Lease) -> int:
        if not await self.lease_acquire_fifo(first.group, first.holder, first.limit, first.ttl, queue):
            return FIRST_REFUSED
        if not await self.lease_acquire(*second):
            await self.lease_release(first.group, first.holder)
            return SECOND_REFUSED
        return PAIR_TAKEN

    async def lease_renew(self, group: str, holder: str, ttl: float) -> bool:
        return await self._call(self._renew, group, holder, ttl)

    def _release(self, group: str, holder: str) -> None:
        sk = self._slot_of.pop((group, holder), None) or self._find_slot(group, holder)
        if sk is None:
            return
        try:
            self._c.delete_item(
                TableName=self.table,
                Key=self._key(f"lease#{group}", sk),
                ConditionExpression="holder = :h",
                ExpressionAttributeValues={":h": {"S": holder}},
            )
        except ClientError as exc:
            if code(exc) != "ConditionalCheckFailedException":  # the slot already went to someone else
                raise

    async def lease_release(self, group: str, holder: str) -> None:
        await self._call(self._release, group, holder)

    async def lease_release_many(self, leases: list[tuple[str, str]]) -> None:
        await asyncio.gather(*(self._call(self._release, group, holder) for group, holder in leases))

    async def lease_count(self, group: str) -> int:
        return len(await self.lease_holders(group))

    async def lease_holders(self, group: str) -> list[str]:
        slots = await self._call(self._slots, group)
        now = self._clock()
        return [item["holder"]["S"] for item in slots if alive(item, now)]

    # ---- queues --------------------------------------------------------------------------------------
    def _count(self, queue: str, before_seq: int | None = None) -> int:
        """Live tickets, or live tickets with a sequence below `before_seq`."""
        values: dict[str, Any] = {":pk": {"S": f"queue#{queue}"}, ":now": when(self._clock())}
        if before_seq is None:
            key_cond = "pk = :pk AND begins_with(sk, :lo)"
            values[":lo"] = {"S": TICKETS}
        else:
            key_cond = "pk = :pk AND sk BETWEEN :lo AND :hi"
            values[":lo"] = {"S": TICKETS}
            values[":hi"] = {"S": ticket_sk(before_seq - 1)}
        args: dict[str, Any] = {
            "TableName": self.table,
            "ConsistentRead": True,
            "KeyConditionExpression": key_cond,
            "FilterExpression": "exp > :now",
            "ExpressionAttributeValues": values,
            "Select": "COUNT",
        }
        total = 0
        while True:
            page = self._c.query(**args)
            total += int(page.get("Count", 0))
            if "LastEvaluatedKey" not in page:
                return total
            args["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _has_live_ticket(self, queue: str) -> bool:
        return bool(self._head(queue, 1))

    def _find_ticket(self, queue: str, ticket: str) -> str | None:
        sk = self._ticket_of.get((queue, ticket))
        if sk is not None:
            return sk
        for item in self._query(f"queue#{queue}", begins=TICKETS):
            if item["ticket"]["S"] == ticket:
                return str(item["sk"]["S"])
        return None

    def _touch(self, queue: str, ticket: str, ttl: float, sk: str | None = None) -> bool:
        sk = sk or self._find_ticket(queue, ticket)
        if sk is None:
            return False
        now = self._clock()
        try:
            self._c.update_item(
                TableName=self.table,
                Key=self._key(f"queue#{queue}", sk),
                UpdateExpression=SET_EXPIRY,
                ConditionExpression="ticket = :t AND exp > :now",
                ExpressionAttributeValues={
                    ":t": {"S": ticket},
                    ":now": when(now),
                    **expiry_values(now + ttl),
                },
            )
            return True
        except ClientError as exc:
            if code(exc) != "ConditionalCheckFailedException":
                raise
            self._ticket_of.pop((queue, ticket), None)
            return False

    def _push(self, queue: str, ticket: str, ttl: float, limit: int) -> int | None:
        known = self._ticket_of.get((queue, ticket))
        if known is not None and self._touch(queue, ticket, ttl, known):
            return self._count(queue, int(known[len(TICKETS) :]))
        seq = self._append(queue, ticket, ttl)
        sk = ticket_sk(seq)
        ahead = self._count(queue, seq)
        if ahead >= limit:
            self._c.delete_item(TableName=self.table, Key=self._key(f"queue#{queue}", sk))
            return None
        self._ticket_of[(queue, ticket)] = sk
        return ahead

    def _append(self, queue: str, ticket: str, ttl: float) -> int:
        """Take the next sequence with ADD (atomic, no retries: the order of arrival at DynamoDB) and write
        the ticket under it; returns the sequence."""
        pk = f"queue#{queue}"
        reply = self._c.update_item(
            TableName=self.table,
            Key=self._key(pk, "#seq"),
            UpdateExpression="ADD n :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )
        seq = int(reply["Attributes"]["n"]["N"])
        item = {
            **self._key(pk, ticket_sk(seq)),
            "ticket": {"S": ticket},
            **expiry(self._clock() + ttl),
        }
        self._c.put_item(TableName=self.table, Item=item)
        return seq

    async def queue_push(self, queue: str, ticket: str, ttl: float, limit: int) -> int | None:
        return await self._call(self._push, queue, ticket, ttl, limit)

    def _position(self, queue: str, ticket: str) -> int | None:
        sk = self._find_ticket(queue, ticket)
        if sk is None:
            return None
        item = self._c.get_item(
            TableName=self.table, Key=self._key(f"queue#{queue}", sk), ConsistentRead=True
        )
        if "Item" not in item or not alive(item["Item"], self._clock()):
            return None
        return self._count(queue, int(sk[len(TICKETS) :]))

    async def queue_position(self, queue: str, ticket: str) -> int | None:
        return await self._call(self._position, queue, ticket)

    def _head(self, queue: str, n: int) -> list[str]:
        args: dict[str, Any] = {
            "TableName": self.table,
            "ConsistentRead": True,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :t)",
            "ExpressionAttributeValues": {":pk": {"S": f"queue#{queue}"}, ":t": {"S": TICKETS}},
            "Limit": n + 8,
        }
        now = self._clock()
        live: list[str] = []
        dead: list[str] = []
        while len(live) < n:
            page = self._c.query(**args)
            for item in page.get("Items", []):
                if alive(item, now):
                    live.append(item["ticket"]["S"])
                else:
                    dead.append(item["sk"]["S"])
            if "LastEvaluatedKey" not in page:
                break
            args["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        for sk in dead:  # TTL deletion lags by days; expired tickets would cost every later read
            try:
                self._c.delete_item(
                    TableName=self.table,
                    Key=self._key(f"queue#{queue}", sk),
                    ConditionExpression="exp <= :now",
                    ExpressionAttributeValues={":now": when(now)},
                )
            except ClientError as exc:
                if code(exc) != "ConditionalCheckFailedException":
                    raise
        return live[:n]

    async def queue_head(self, queue: str, n: int) -> list[str]:
        return await self._call(self._head, queue, n) if n > 0 else []

    async def queue_touch(self, queue: str, ticket: str, ttl: float) -> bool:
        return await self._call(self._touch, queue, ticket, ttl)

    def _remove_ticket(self, queue: str, ticket: str, sk: str | None = None) -> None:
        sk = self._ticket_of.pop((queue, ticket), None) or sk or self._find_ticket(queue, ticket)
        if sk is not None:
            self._c.delete_item(TableName=self.table, Key=self._key(f"queue#{queue}", sk))

    async def queue_remove(self, queue: str, ticket: str) -> None:
        await self._call(self._remove_ticket, queue, ticket)

    async def queue_len(self, queue: str) -> int:
        return await self._call(self._count, queue)
