"""Listings on DynamoDB without a table Scan: a sparse global secondary index over the key families that
listings read.

A key/value item whose key starts with one of `LISTED` carries `lst` (S), that family; the `listing` index is
keyed by `lst` (hash) and `pk` (range) and projects keys only. `scan(prefix)` for a prefix inside a family is
a Query `lst = :family AND begins_with(pk, :prefix)` on the index, then a consistent BatchGetItem of the items
it names: the values are current (an item deleted or changed since the index was updated reads as it is now),
only an item written in the last moment may be missing (the index is eventually consistent, as OpenAI's own
listings are). Every other item stays out of the index, so counters, leases, line results and responses
cost no index writes.

A prefix outside every family (a test, an operator's look) falls back to the filtered table Scan.

Tables created before the index existed: items written since carry `lst`; those written before do not. The
first listing of each process checks a flag item (`store:listing-index`, one read); when it is absent, a
one-time backfill Scan adds `lst` to the older items of the listed families, then sets the flag. A table made
by the store itself (`?create=1`) is flagged at creation. A table without the index at all (an older stack;
`?create=1` adds the index at start-up) is listed by Scan, with a warning, until the process restarts.
"""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import ClientError

from qwen_server.store._dynamodb_table import Table
from qwen_server.store._dynamodb_wire import (
    ATTR,
    INDEX,
    LIVE,
    code,
    family,
    index_definition,
    kv_item,
    kv_key,
    kv_value,
    when,
)

log = logging.getLogger("qwen_server")
INDEXED_FLAG = "store:listing-index"


class Listings:
    def __init__(self, table: Table) -> None:
        self._t = table
        self._indexed = False  # this process has seen the backfill flag
        self._missing = False  # the table has no listing index (made by an older version): Scan instead

    def keys(self, prefix: str) -> list[str] | None:
        """The keys under `prefix` by the index (values still to read), or None when no family covers it."""
        listed = family(prefix)
        if listed is None or self._missing:
            return None
        try:
            keys = self._query(listed, prefix)
        except ClientError as exc:  # DynamoDB says ValidationException, moto ResourceNotFoundException
            message = str(exc.response.get("Error", {}).get("Message", ""))
            if code(exc) not in ("ValidationException", "ResourceNotFoundException") or not (
                "index" in message.lower() and INDEX in message
            ):
                raise
        else:
            if not self._indexed and self._backfilled():  # older items joined the index: ask again
                keys = self._query(listed, prefix)
            return keys
        self._missing = True
        log.warning(
            "DynamoDB table %s has no %r index (see template.yaml): listings scan the whole table until it "
            "is added (`?create=1` adds it at start-up)",
            self._t.name,
            INDEX,
        )
        return None

    def _query(self, listed: str, prefix: str) -> list[str]:
        args: dict[str, Any] = {
            "TableName": self._t.name,
            "IndexName": INDEX,
            "KeyConditionExpression": f"{ATTR} = :f AND begins_with(pk, :p)",
            "ExpressionAttributeValues": {":f": {"S": listed}, ":p": {"S": f"kv#{prefix}"}},
        }
        keys: list[str] = []
        while True:
            page = self._t.c.query(**args)
            keys.extend(item["pk"]["S"][3:] for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return keys
            args["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def scan(self, prefix: str) -> dict[str, bytes]:
        """The filtered table Scan, for prefixes outside every family."""
        now = self._t.clock()
        args: dict[str, Any] = {
            "TableName": self._t.name,
            "ConsistentRead": True,
            "FilterExpression": f"begins_with(pk, :p) AND {LIVE}",
            "ExpressionAttributeValues": {":p": {"S": f"kv#{prefix}"}, ":now": when(now)},
        }
        out: dict[str, bytes] = {}
        while True:
            page = self._t.c.scan(**args)
            for item in page.get("Items", []):
                value = kv_value(item, now)
                if value is not None:
                    out[item["pk"]["S"][3:]] = value
            if "LastEvaluatedKey" not in page:
                return out
            args["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def add_index(self) -> None:
        """Add the listing index to a table made without it (`?create=1` at start-up); DynamoDB builds it in
        the background, and the first listing backfills the older items."""
        described = self._t.c.describe_table(TableName=self._t.name)["Table"]
        if any(i["IndexName"] == INDEX for i in described.get("GlobalSecondaryIndexes", [])):
            return
        self._t.c.update_table(
            TableName=self._t.name,
            AttributeDefinitions=[{"AttributeName": ATTR, "AttributeType": "S"}],
            GlobalSecondaryIndexUpdates=[{"Create": index_definition()}],
        )
        log.info("DynamoDB table %s: adding the %r index for listings", self._t.name, INDEX)

    def mark_indexed(self) -> None:
        """Flag a table as needing no backfill (the store created it with the index)."""
        self._t.c.put_item(TableName=self._t.name, Item=kv_item(INDEXED_FLAG, b"1", None, self._t.clock()))
        self._indexed = True

    def _backfilled(self) -> bool:
        """Make sure the table's older items are indexed (one read per process); True if this call did it."""
        item = self._t.c.get_item(TableName=self._t.name, Key=kv_key(INDEXED_FLAG), ConsistentRead=True)
        self._indexed = True
        if "Item" in item:
            return False
        self._backfill()
        return True

    def _backfill(self) -> None:
        """Add `lst` to the items of listed families written before the index existed (once per table)."""
        log.info("DynamoDB table %s: indexing the items of listings written before the index", self._t.name)
        args: dict[str, Any] = {
            "TableName": self._t.name,
            "FilterExpression": f"begins_with(pk, :kv) AND attribute_not_exists({ATTR})",
            "ExpressionAttributeValues": {":kv": {"S": "kv#"}},
            "ProjectionExpression": "pk, sk",
        }
        added = 0
        while True:
            page = self._t.c.scan(**args)
            for item in page.get("Items", []):
                listed = family(item["pk"]["S"][3:])
                if listed is None:
                    continue
                try:
                    self._t.c.update_item(
                        TableName=self._t.name,
                        Key={"pk": item["pk"], "sk": item["sk"]},
                        UpdateExpression=f"SET {ATTR} = :f",
                        ConditionExpression="attribute_exists(pk)",
                        ExpressionAttributeValues={":f": {"S": listed}},
                    )
                    added += 1
                except ClientError as exc:
                    if code(exc) != "ConditionalCheckFailedException":  # deleted meanwhile: nothing to do
                        raise
            if "LastEvaluatedKey" not in page:
                break
            args["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        self.mark_indexed()
        log.info("DynamoDB table %s: %d item(s) indexed for listings", self._t.name, added)
