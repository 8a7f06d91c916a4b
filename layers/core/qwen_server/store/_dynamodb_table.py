"""The one DynamoDB table as the store's parts use it: a client made on first use, items keyed by (pk, sk),
conditional puts, and consistent paginated queries (the listings: a partition's items, or a count)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

from qwen_server.store._dynamodb_wire import SET_EXPIRY, Item, code, expiry_values, new_client, when


class Table:
    def __init__(
        self,
        name: str,
        *,
        region: str | None,
        endpoint_url: str | None,
        timeout: float,
        clock: Callable[[], float],
    ) -> None:
        self.name = name
        self.clock = clock
        self._region = region
        self._endpoint = endpoint_url
        self._timeout = timeout
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def c(self) -> Any:
        """The boto3 client, made once (threads share it)."""
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

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    @staticmethod
    def key(pk: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": sk}}

    def put_if(self, item: Item, condition: str, values: dict[str, Any]) -> bool:
        """Put `item` when `condition` holds; False when it does not."""
        try:
            self.c.put_item(
                TableName=self.name,
                Item=item,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
            return True
        except ClientError as exc:
            if code(exc) == "ConditionalCheckFailedException":
                return False
            raise

    def extend_if_alive(self, pk: str, sk: str, owner: tuple[str, str], ttl: float) -> bool:
        """Push the item's expiry to now + `ttl` while it is unexpired and `owner` (attribute, value) still
        holds it; False when it has expired or changed hands (a lease renewal, a queue ticket's touch)."""
        attribute, value = owner
        now = self.clock()
        try:
            self.c.update_item(
                TableName=self.name,
                Key=self.key(pk, sk),
                UpdateExpression=SET_EXPIRY,
                ConditionExpression=f"{attribute} = :owner AND exp > :now",
                ExpressionAttributeValues={
                    ":owner": {"S": value},
                    ":now": when(now),
                    **expiry_values(now + ttl),
                },
            )
            return True
        except ClientError as exc:
            if code(exc) == "ConditionalCheckFailedException":
                return False
            raise

    def query(self, pk: str, *, begins: str | None = None, limit: int | None = None) -> list[Item]:
        """The partition's items (those whose sort key begins with `begins`), at least `limit` if given."""
        args: dict[str, Any] = {
            "TableName": self.name,
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
            page = self.c.query(**args)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page or (limit is not None and len(items) >= limit):
                return items
            args["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def count(self, args: dict[str, Any]) -> int:
        """How many items a query (`Select: COUNT`) matches, over every page."""
        total = 0
        while True:
            page = self.c.query(**args)
            total += int(page.get("Count", 0))
            if "LastEvaluatedKey" not in page:
                return total
            args["ExclusiveStartKey"] = page["LastEvaluatedKey"]
