"""The DynamoDB store's leases: one item per slot index `0..limit-1` in the group's partition.

Acquiring reads the group's slots (one query), then claims a free or expired index with a conditional put
`attribute_not_exists(pk) OR exp <= :now`; a lost race moves on to the next free index. Slots spread the
writes of a busy class over `limit` items instead of one hot counter (DynamoDB takes ~1,000 writes/s per
item). Given a ticket, the claim deletes it in the same TransactWriteItems (`lease_acquire_fifo`). The slot
taken here is remembered per (group, holder); another instance finds it with a query.
"""

from __future__ import annotations

import random
from typing import Any

from botocore.exceptions import ClientError

from qwen_server.store._dynamodb_queues import TicketQueues
from qwen_server.store._dynamodb_table import Table
from qwen_server.store._dynamodb_wire import GONE, Item, alive, code, expiry, when


class SlotLeases:
    def __init__(self, table: Table, queues: TicketQueues) -> None:
        self._t = table
        self._queues = queues
        self._slot_of: dict[tuple[str, str], str] = {}  # (group, holder) -> slot sk taken here

    def slots(self, group: str) -> list[Item]:
        return self._t.query(f"lease#{group}")

    def holders(self, group: str) -> list[str]:
        slots = self.slots(group)
        now = self._t.clock()
        return [item["holder"]["S"] for item in slots if alive(item, now)]

    def _find(self, group: str, holder: str) -> str | None:
        sk = self._slot_of.get((group, holder))
        if sk is not None:
            return sk
        for item in self.slots(group):
            if item["holder"]["S"] == holder:
                return str(item["sk"]["S"])
        return None

    def renew(self, group: str, holder: str, ttl: float, sk: str | None = None) -> bool:
        sk = sk or self._find(group, holder)
        if sk is None:
            return False
        if not self._t.extend_if_alive(f"lease#{group}", sk, ("holder", holder), ttl):
            self._slot_of.pop((group, holder), None)
            return False
        self._slot_of[(group, holder)] = sk
        return True

    def claim(
        self,
        group: str,
        holder: str,
        limit: int,
        ttl: float,
        slots: list[Item],
        ticket: tuple[str, str, str] | None,
    ) -> bool:
        """Take a free slot seen in `slots`; with `ticket` (queue, id, sk) delete that ticket atomically."""
        now = self._t.clock()
        live = {item["sk"]["S"]: item for item in slots if alive(item, now)}
        for sk, item in live.items():
            if item["holder"]["S"] == holder and self.renew(group, holder, ttl, sk):
                if ticket is not None:
                    self._queues.remove(*ticket)
                return True
        if len(live) >= limit:
            return False
        free = [f"slot#{i:05d}" for i in range(limit) if f"slot#{i:05d}" not in live]
        random.shuffle(free)  # instances racing for a slot spread over the free ones
        for sk in free:
            put: dict[str, Any] = {
                "TableName": self._t.name,
                "Item": {
                    **self._t.key(f"lease#{group}", sk),
                    "holder": {"S": holder},
                    **expiry(now + ttl),
                },
                "ConditionExpression": GONE,
                "ExpressionAttributeValues": {":now": when(now)},
            }
            if ticket is None:
                if not self._t.put_if(put["Item"], GONE, {":now": when(now)}):
                    continue
            else:
                queue, ticket_id, ticket_key = ticket
                delete = {
                    "TableName": self._t.name,
                    "Key": self._t.key(f"queue#{queue}", ticket_key),
                    "ConditionExpression": "ticket = :t AND exp > :now",
                    "ExpressionAttributeValues": {":t": {"S": ticket_id}, ":now": when(now)},
                }
                try:
                    self._t.c.transact_write_items(TransactItems=[{"Put": put}, {"Delete": delete}])
                except ClientError as exc:
                    if code(exc) != "TransactionCanceledException":
                        raise
                    reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
                    if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                        self._queues.sk_of.pop((queue, ticket_id), None)
                        return False  # the ticket expired or was removed: this waiter is gone
                    continue
                self._queues.sk_of.pop((queue, ticket_id), None)
            self._slot_of[(group, holder)] = sk
            return True
        return False

    def release(self, group: str, holder: str) -> None:
        sk = self._slot_of.pop((group, holder), None) or self._find(group, holder)
        if sk is None:
            return
        try:
            self._t.c.delete_item(
                TableName=self._t.name,
                Key=self._t.key(f"lease#{group}", sk),
                ConditionExpression="holder = :h",
                ExpressionAttributeValues={":h": {"S": holder}},
            )
        except ClientError as exc:
            if code(exc) != "ConditionalCheckFailedException":  # the slot already went to someone else
                raise
