"""DynamoDB listings through the `listing` index (moto's server): what they return, which requests they send
(counted by a botocore event hook on the store's own client), and tables made before the index existed."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import boto3
import pytest

from qwen_server.store.dynamodb import DynamoDBStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def sent_by(store: DynamoDBStore) -> list[str]:
    """Every DynamoDB operation the store's client sends from now on, by name."""
    names: list[str] = []

    def record(model: Any, **_: Any) -> None:
        names.append(model.name)

    store._t.c.meta.events.register("before-call.dynamodb", record)
    return names


@pytest.fixture
async def fresh(moto_endpoint: str) -> AsyncIterator[tuple[DynamoDBStore, Clock]]:
    clock = Clock()
    store = DynamoDBStore(
        f"t{uuid.uuid4().hex[:10]}", region="us-east-1", endpoint_url=moto_endpoint, create=True, clock=clock
    )
    await store.ping()
    yield store, clock
    await store.close()


async def test_listings_query_the_index_and_read_current_values(fresh: tuple[DynamoDBStore, Clock]) -> None:
    store, clock = fresh
    await store.set("files:t1:a", b"A")
    await store.set("files:t1:b", b"B", ttl=60)
    await store.set("files:t2:c", b"C")
    await store.set("batch:t1:x", b"X")
    await store.incr("usage:2027-01-15:t1:requests", 3)
    await store.compare_and_set("pool:arm:acct:model", None, b"arm")
    await store.set("other:thing", b"not listed")
    sent = sent_by(store)

    assert await store.scan("files:t1:") == {"files:t1:a": b"A", "files:t1:b": b"B"}
    assert await store.scan("files:") == {"files:t1:a": b"A", "files:t1:b": b"B", "files:t2:c": b"C"}
    assert await store.scan("batch:t1:") == {"batch:t1:x": b"X"}
    assert await store.scan("usage:") == {"usage:2027-01-15:t1:requests": b"3"}
    assert await store.scan("pool:arm:") == {"pool:arm:acct:model": b"arm"}
    await store.set("files:t1:a", b"A2")
    await store.delete("files:t2:c")
    clock.now += 61  # files:t1:b expires: the item may linger in the table, the listing must not show it
    assert await store.scan("files:") == {"files:t1:a": b"A2"}
    assert "Scan" not in sent and sent.count("Query") == 6

    assert await store.scan("other:") == {"other:thing": b"not listed"}  # outside every family: a Scan
    assert sent.count("Scan") == 1


async def test_a_table_made_before_the_index_gets_it_and_its_older_items(moto_endpoint: str) -> None:
    """The old table (no index) holds items without `lst`. A store with `?create=1` adds the index at start-up;
    its first listing backfills the old items once; another process then lists without any Scan."""
    name = f"t{uuid.uuid4().hex[:10]}"
    client = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1")
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for key in ("files:t:old", "batches-active:t:b1", "ratelimit:t:requests:1"):
        client.put_item(TableName=name, Item={"pk": {"S": f"kv#{key}"}, "sk": {"S": "="}, "v": {"B": b"1"}})

    unaware = DynamoDBStore(name, region="us-east-1", endpoint_url=moto_endpoint)  # no ?create=1: no index
    await unaware.ping()
    assert await unaware.scan("files:t:") == {"files:t:old": b"1"}  # falls back to a Scan, and says so
    await unaware.close()

    first = DynamoDBStore(name, region="us-east-1", endpoint_url=moto_endpoint, create=True)
    await first.ping()
    indexes = client.describe_table(TableName=name)["Table"]["GlobalSecondaryIndexes"]
    assert [i["IndexName"] for i in indexes] == ["listing"]
    await first.set("files:t:new", b"2")
    sent = sent_by(first)
    assert await first.scan("files:t:") == {"files:t:old": b"1", "files:t:new": b"2"}
    assert sent.count("Scan") == 1  # the one backfill
    assert await first.scan("batches-active:") == {"batches-active:t:b1": b"1"}
    assert sent.count("Scan") == 1
    await first.close()

    second = DynamoDBStore(name, region="us-east-1", endpoint_url=moto_endpoint)
    sent = sent_by(second)
    assert await second.scan("files:t:") == {"files:t:old": b"1", "files:t:new": b"2"}
    assert "Scan" not in sent
    await second.close()
