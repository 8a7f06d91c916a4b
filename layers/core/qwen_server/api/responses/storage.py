"""Stored responses: one store key per response, owned by the tenant that created it.

A record keeps the response object, this request's input items (for `GET …/input_items`) and the whole
conversation up to and including its output (`context`), so `previous_response_id` continues it with one
read. Records expire after `RESPONSES_TTL_SECONDS` (30 days). Another tenant's id reads as absent.
Each output item is also kept under its own id, so a later input's `item_reference` finds it in one read.
"""

from __future__ import annotations

from typing import Any

import orjson

from qwen_server.core.errors import InvalidRequest
from qwen_server.store.base import Store

_KEY = "responses:{tenant}:{id}"
_ITEM_KEY = "response_items:{tenant}:{id}"


class ResponseStore:
    def __init__(self, store: Store, ttl: float) -> None:
        self._store = store
        self._ttl = ttl

    async def save(
        self,
        tenant: str,
        response: dict[str, Any],
        input_items: list[dict[str, Any]],
        context: list[dict[str, Any]],
    ) -> None:
        record = {"response": response, "input": input_items, "context": context}
        await self._store.set(
            _KEY.format(tenant=tenant, id=response["id"]), orjson.dumps(record), ttl=self._ttl
        )
        for item in response.get("output", []):
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                key = _ITEM_KEY.format(tenant=tenant, id=item["id"])
                await self._store.set(key, orjson.dumps(item), ttl=self._ttl)

    async def resolve_references(self, tenant: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The input with each `item_reference` replaced by the stored item it names (400 when unknown)."""
        wanted = [i for i, item in enumerate(items) if item.get("type") == "item_reference"]
        if not wanted:
            return items
        keys = [_ITEM_KEY.format(tenant=tenant, id=items[i]["id"]) for i in wanted]
        resolved = list(items)
        for i, raw in zip(wanted, await self._store.get_many(keys), strict=True):
            if raw is None:
                raise InvalidRequest(f"Item with id '{items[i]['id']}' not found.", param=f"input.{i}.id")
            resolved[i] = orjson.loads(raw)
        return resolved

    async def get(self, tenant: str, response_id: str) -> dict[str, Any] | None:
        raw = await self._store.get(_KEY.format(tenant=tenant, id=response_id))
        if raw is None:
            return None
        record = orjson.loads(raw)
        return record if isinstance(record, dict) else None

    async def delete(self, tenant: str, response_id: str) -> bool:
        key = _KEY.format(tenant=tenant, id=response_id)
        raw = await self._store.get(key)
        if raw is None:
            return False
        record = orjson.loads(raw)
        output = record.get("response", {}).get("output", []) if isinstance(record, dict) else []
        for item in output:
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                await self._store.delete(_ITEM_KEY.format(tenant=tenant, id=item["id"]))
        await self._store.delete(key)
        return True


def next_context(
    inherited: list[dict[str, Any]], input_items: list[dict[str, Any]], response: dict[str, Any]
) -> list[dict[str, Any]]:
    """The conversation a follow-up continues: what came before, this input, this output."""
    return [*inherited, *input_items, *response.get("output", [])]
