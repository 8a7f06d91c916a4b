"""Stored responses: one store key per response, owned by the tenant that created it.

A record keeps the response object, this request's input items (for `GET …/input_items`) and the whole
conversation up to and including its output (`context`), so `previous_response_id` continues it with one
read. Records expire after `RESPONSES_TTL_SECONDS` (30 days). Another tenant's id reads as absent.
"""

from __future__ import annotations

from typing import Any

import orjson

from qwen_server.store.base import Store

_KEY = "responses:{tenant}:{id}"


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

    async def get(self, tenant: str, response_id: str) -> dict[str, Any] | None:
        raw = await self._store.get(_KEY.format(tenant=tenant, id=response_id))
        if raw is None:
            return None
        record = orjson.loads(raw)
        return record if isinstance(record, dict) else None

    async def delete(self, tenant: str, response_id: str) -> bool:
        key = _KEY.format(tenant=tenant, id=response_id)
        if await self._store.get(key) is None:
            return False
        await self._store.delete(key)
        return True


def next_context(
    inherited: list[dict[str, Any]], input_items: list[dict[str, Any]], response: dict[str, Any]
) -> list[dict[str, Any]]:
    """The conversation a follow-up continues: what came before, this input, this output."""
    return [*inherited, *input_items, *response.get("output", [])]
