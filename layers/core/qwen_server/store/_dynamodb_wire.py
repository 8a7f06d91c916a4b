"""DynamoDB wire helpers for `store.dynamodb`: attribute encodings, the key/value item codec, expiry
conditions, the client, the table."""

from __future__ import annotations

import math
import threading
from decimal import Decimal
from typing import Any

import boto3
from botocore.exceptions import ClientError

from qwen_server.store._codec import encode_number

Item = dict[str, Any]

LIVE = "(attribute_not_exists(exp) OR exp > :now)"
GONE = "(attribute_not_exists(pk) OR exp <= :now)"
SET_EXPIRY = "SET exp = :exp, expires_at = :ttl"
TICKETS = "t#"
INDEX = "listing"  # the sparse index listings query (see `_dynamodb_listing`)
ATTR = "lst"
# the key families read by `scan`: batches (records, the workers' active list), files, video jobs, usage
# counters, the pool's per-account statistics
LISTED = ("batch:", "batches-active:", "files:", "video:job:", "usage:", "pool:arm:")


def family(key: str) -> str | None:
    """The listed family `key` (or a prefix) belongs to, or None."""
    found = [f for f in LISTED if key.startswith(f)]
    return max(found, key=len) if found else None


def index_definition() -> dict[str, Any]:
    """The listing index as `create_table` declares it (template.yaml declares the same)."""
    return {
        "IndexName": INDEX,
        "KeySchema": [
            {"AttributeName": ATTR, "KeyType": "HASH"},
            {"AttributeName": "pk", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "KEYS_ONLY"},
    }


def num(x: float) -> dict[str, str]:
    return {"N": format(Decimal(repr(float(x))), "f")}


def when(x: float) -> dict[str, str]:
    return {"N": f"{x:.3f}"}


def expiry(at: float) -> dict[str, dict[str, str]]:
    """Attributes of an item expiring at `at`: precise for our comparisons, whole seconds for DynamoDB TTL."""
    return {"exp": when(at), "expires_at": {"N": str(math.ceil(at))}}


def expiry_values(at: float) -> dict[str, dict[str, str]]:
    return {":exp": when(at), ":ttl": {"N": str(math.ceil(at))}}


def code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def expires(item: Item) -> float | None:
    raw = item.get("exp")
    return None if raw is None else float(raw["N"])


def alive(item: Item, now: float) -> bool:
    exp = expires(item)
    return exp is None or exp > now


def kv_key(key: str) -> dict[str, Any]:
    """A key/value entry's item key: `kv#<key>`, sort key `=`."""
    return {"pk": {"S": f"kv#{key}"}, "sk": {"S": "="}}


def kv_value(item: Item | None, now: float) -> bytes | None:
    """The value an item holds at `now`: bytes as stored, a counter (`n`) in the shared number spelling."""
    if item is None or not alive(item, now):
        return None
    if "v" in item:
        return bytes(item["v"]["B"])
    return encode_number(float(item["n"]["N"]))


def kv_item(key: str, value: bytes, ttl: float | None, now: float) -> Item:
    item: Item = {**kv_key(key), "v": {"B": value}}
    listed = family(key)
    if listed is not None:
        item[ATTR] = {"S": listed}
    if ttl is not None:
        item.update(expiry(now + ttl))
    return item


_SESSION_LOCK = threading.Lock()
_SESSIONS: list[boto3.session.Session] = []


def new_client(**kwargs: Any) -> Any:
    """A DynamoDB client from one boto3 session per process: a new session re-reads the service models
    (hundreds of ms), and sessions are not thread-safe, hence the lock."""
    with _SESSION_LOCK:
        if not _SESSIONS:
            _SESSIONS.append(boto3.session.Session())
        return _SESSIONS[0].client("dynamodb", **kwargs)


def ticket_sk(seq: int) -> str:
    return f"{TICKETS}{seq:020d}"


def create_table(client: Any, table: str) -> bool:
    """Create the single table (on-demand billing, with the listing index) and turn TTL on; tolerant of a
    concurrent creator. True when this call created it."""
    created = True
    try:
        client.create_table(
            TableName=table,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
                {"AttributeName": ATTR, "AttributeType": "S"},
            ],
            GlobalSecondaryIndexes=[index_definition()],
            BillingMode="PAY_PER_REQUEST",
        )
    except ClientError as exc:
        if code(exc) != "ResourceInUseException":  # another process created it first
            raise
        created = False
    client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1})
    try:
        client.update_time_to_live(
            TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
        )
    except ClientError as exc:
        if code(exc) != "ValidationException":  # TTL already enabled
            raise
    return created
