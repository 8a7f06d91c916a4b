"""The DynamoDB store's queues: tickets in one partition per queue, ordered by a sequence taken with ADD.

A ticket's position is the number of live tickets with a smaller sort key (a consistent COUNT query). A push
that finds `limit` live tickets ahead deletes itself and reports the queue full. Expired tickets are deleted
(conditionally) by `head` when it meets them: TTL deletion lags by days. The sort key of a ticket pushed
here is remembered; another instance finds it with a query.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from qwen_server.store._dynamodb_table import Table
from qwen_server.store._dynamodb_wire import (
    TICKETS,
    alive,
    code,
    expiry,
    ticket_sk,
    when,
)


class TicketQueues:
    def __init__(self, table: Table) -> None:
        self._t = table
        self.sk_of: dict[tuple[str, str], str] = {}  # (queue, ticket) -> ticket sk pushed here

    def count(self, queue: str, before_seq: int | None = None) -> int:
        """Live tickets, or live tickets with a sequence below `before_seq`."""
        values: dict[str, Any] = {":pk": {"S": f"queue#{queue}"}, ":now": when(self._t.clock())}
        if before_seq is None:
            key_cond = "pk = :pk AND begins_with(sk, :lo)"
            values[":lo"] = {"S": TICKETS}
        else:
            key_cond = "pk = :pk AND sk BETWEEN :lo AND :hi"
            values[":lo"] = {"S": TICKETS}
            values[":hi"] = {"S": ticket_sk(before_seq - 1)}
        return self._t.count(
            {
                "TableName": self._t.name,
                "ConsistentRead": True,
                "KeyConditionExpression": key_cond,
                "FilterExpression": "exp > :now",
                "ExpressionAttributeValues": values,
                "Select": "COUNT",
            }
        )

    def has_live(self, queue: str) -> bool:
        return bool(self.head(queue, 1))

    def find(self, queue: str, ticket: str) -> str | None:
        sk = self.sk_of.get((queue, ticket))
        if sk is not None:
            return sk
        for item in self._t.query(f"queue#{queue}", begins=TICKETS):
            if item["ticket"]["S"] == ticket:
                return str(item["sk"]["S"])
        return None

    def touch(self, queue: str, ticket: str, ttl: float, sk: str | None = None) -> bool:
        sk = sk or self.find(queue, ticket)
        if sk is None:
            return False
        if self._t.extend_if_alive(f"queue#{queue}", sk, ("ticket", ticket), ttl):
            return True
        self.sk_of.pop((queue, ticket), None)
        return False

    def push(self, queue: str, ticket: str, ttl: float, limit: int) -> int | None:
        known = self.sk_of.get((queue, ticket))
        if known is not None and self.touch(queue, ticket, ttl, known):
            return self.count(queue, int(known[len(TICKETS) :]))
        seq = self._append(queue, ticket, ttl)
        sk = ticket_sk(seq)
        ahead = self.count(queue, seq)
        if ahead >= limit:
            self._t.c.delete_item(TableName=self._t.name, Key=self._t.key(f"queue#{queue}", sk))
            return None
        self.sk_of[(queue, ticket)] = sk
        return ahead

    def _append(self, queue: str, ticket: str, ttl: float) -> int:
        """Take the next sequence with ADD (atomic, no retries: the order of arrival at DynamoDB) and write
        the ticket under it; returns the sequence."""
        pk = f"queue#{queue}"
        reply = self._t.c.update_item(
            TableName=self._t.name,
            Key=self._t.key(pk, "#seq"),
            UpdateExpression="ADD n :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )
        seq = int(reply["Attributes"]["n"]["N"])
        item = {
            **self._t.key(pk, ticket_sk(seq)),
            "ticket": {"S": ticket},
            **expiry(self._t.clock() + ttl),
        }
        self._t.c.put_item(TableName=self._t.name, Item=item)
        return seq

    def position(self, queue: str, ticket: str) -> int | None:
        sk = self.find(queue, ticket)
        if sk is None:
            return None
        item = self._t.c.get_item(
            TableName=self._t.name, Key=self._t.key(f"queue#{queue}", sk), ConsistentRead=True
        )
        if "Item" not in item or not alive(item["Item"], self._t.clock()):
            return None
        return self.count(queue, int(sk[len(TICKETS) :]))

    def head(self, queue: str, n: int) -> list[str]:
        args: dict[str, Any] = {
            "TableName": self._t.name,
            "ConsistentRead": True,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :t)",
            "ExpressionAttributeValues": {":pk": {"S": f"queue#{queue}"}, ":t": {"S": TICKETS}},
            "Limit": n + 8,
        }
        now = self._t.clock()
        live: list[str] = []
        dead: list[str] = []
        while len(live) < n:
            page = self._t.c.query(**args)
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
                self._t.c.delete_item(
                    TableName=self._t.name,
                    Key=self._t.key(f"queue#{queue}", sk),
                    ConditionExpression="exp <= :now",
                    ExpressionAttributeValues={":now": when(now)},
                )
            except ClientError as exc:
                if code(exc) != "ConditionalCheckFailedException":
                    raise
        return live[:n]

    def pop(self, queue: str) -> str | None:
        """The oldest live ticket, deleted on condition that it is still there and live: when another caller
        deleted it first, the next one is tried."""
        while True:
            now = self._t.clock()
            items = self._t.c.query(
                TableName=self._t.name,
                ConsistentRead=True,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :t)",
                FilterExpression="exp > :now",
                ExpressionAttributeValues={
                    ":pk": {"S": f"queue#{queue}"},
                    ":t": {"S": TICKETS},
                    ":now": when(now),
                },
            ).get("Items", [])
            if not items:
                return None
            for item in items:
                try:
                    self._t.c.delete_item(
                        TableName=self._t.name,
                        Key=self._t.key(f"queue#{queue}", item["sk"]["S"]),
                        ConditionExpression="attribute_exists(sk) AND exp > :now",
                        ExpressionAttributeValues={":now": when(now)},
                    )
                except ClientError as exc:
                    if code(exc) != "ConditionalCheckFailedException":
                        raise
                    continue  # taken by another caller (or expired meanwhile): the next one
                ticket = str(item["ticket"]["S"])
                self.sk_of.pop((queue, ticket), None)
                return ticket

    def remove(self, queue: str, ticket: str, sk: str | None = None) -> None:
        sk = self.sk_of.pop((queue, ticket), None) or sk or self.find(queue, ticket)
        if sk is not None:
            self._t.c.delete_item(TableName=self._t.name, Key=self._t.key(f"queue#{queue}", sk))
