"""Stored responses: one record per response, owned by the tenant that created it.

A record keeps the response object, this request's input items (for `GET …/input_items`) and `chain`: the ids
of the earlier turns of its conversation, oldest first. It holds its own turn and nothing more, so a
conversation of n turns stores n turns, not the n²/2 a copy of the whole context per record would; a follow-up
reads the turns it continues in one batch (`conversation`). On a store that bounds its values (DynamoDB: an
item stops at 400 KB) a record larger than `INLINE_BYTES` goes to the blob store (`responses/<tenant>/<id>.json`,
expiring with the record) and the state store keeps only a reference to it: the upstream has answered by the
time a record is saved, so it must not fail for its size. Other stores keep every record themselves.

Records expire after `RESPONSES_TTL_SECONDS` (30 days) from when they were written, so a conversation
continued over longer than that loses its oldest turns, and so does one past `MAX_TURNS`; deleting a response
removes its turn from the conversations that continue it too. Another tenant's id reads as absent. Each output
item is indexed under its own id (a reference to its response), so a later input's `item_reference` finds it.

Records written before chaining by reference hold the whole conversation up to them (`context`) instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from qwen_server.core.errors import InvalidRequest, StoreUnavailable

if TYPE_CHECKING:
    from qwen_server.blob.base import BlobStore
    from qwen_server.store.base import Store

_KEY = "responses:{tenant}:{id}"
_ITEM_KEY = "response_items:{tenant}:{id}"
INLINE_BYTES = 64 * 1024  # larger records live in the blob store, on a store that bounds its values
MAX_TURNS = 1000  # a conversation continues its last this many turns

Record = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Conversation:
    items: list[dict[str, Any]]
    chain: list[str]  # the ids of its turns, oldest first


class ResponseStore:
    def __init__(
        self,
        store: Store,
        ttl: float,
        blobs: Callable[[], Awaitable[BlobStore]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._ttl = ttl
        self._blobs = blobs  # opened only when a record is too large for the store
        self._clock = clock

    async def save(
        self, tenant: str, response: dict[str, Any], input_items: list[dict[str, Any]], chain: list[str]
    ) -> None:
        """Keep this turn: the response, its input items and the ids of the turns before it (`chain`)."""
        raw = orjson.dumps({"response": response, "input": input_items, "chain": chain[-MAX_TURNS:]})
        bound = self._store.max_value_bytes
        if bound is not None and len(raw) > min(INLINE_BYTES, bound):
            blob_key = f"responses/{tenant}/{response['id']}.json"
            await self._blob_call(
                lambda blobs: blobs.put_bytes(
                    blob_key, raw, "application/json", expires_at=self._clock() + self._ttl
                )
            )
            raw = orjson.dumps({"blob": blob_key})
        await self._store.set(_KEY.format(tenant=tenant, id=response["id"]), raw, ttl=self._ttl)
        pointer = orjson.dumps({"response": response["id"]})
        for item in response.get("output", []):
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                await self._store.set(_ITEM_KEY.format(tenant=tenant, id=item["id"]), pointer, ttl=self._ttl)

    async def get(self, tenant: str, response_id: str) -> Record | None:
        """The record (`response`, `input`, `chain`), read from the blob store when it was kept there."""
        [record] = await self._get_many(tenant, [response_id])
        return record

    async def conversation(self, tenant: str, response_id: str) -> Conversation | None:
        """What a follow-up with `previous_response_id` continues: every item up to and including
        `response_id`'s output, oldest first, and the chain of ids a follow-up record keeps; None when no such
        response is stored."""
        last = await self.get(tenant, response_id)
        if last is None:
            return None
        earlier = last.get("chain")
        chain = [*(x for x in earlier if isinstance(x, str)), response_id] if isinstance(earlier, list) else []
        chain = chain or [response_id]
        turns = [*await self._get_many(tenant, chain[:-1]), last]
        whole = [i for i, turn in enumerate(turns) if turn is not None and "context" in turn]
        items: list[dict[str, Any]] = []
        for turn in turns[whole[-1] :] if whole else turns:
            if turn is None:  # deleted, or expired
                continue
            if "context" in turn:  # written before chaining: it holds the conversation up to it
                items += list(turn["context"])
                continue
            items += [*(turn.get("input") or []), *((turn.get("response") or {}).get("output") or [])]
        return Conversation(items, chain)

    async def resolve_references(self, tenant: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The input with each `item_reference` replaced by the stored item it names (400 when unknown)."""
        wanted = [i for i, item in enumerate(items) if item.get("type") == "item_reference"]
        if not wanted:
            return items
        keys = [_ITEM_KEY.format(tenant=tenant, id=items[i]["id"]) for i in wanted]
        resolved = list(items)
        records: dict[str, Record | None] = {}
        for i, raw in zip(wanted, await self._store.get_many(keys), strict=True):
            found = orjson.loads(raw) if raw is not None else None
            if isinstance(found, dict) and "response" in found and "type" not in found:  # a reference
                owner = str(found["response"])
                if owner not in records:
                    records[owner] = await self.get(tenant, owner)
                found = _output_item(records[owner], items[i]["id"])
            if not isinstance(found, dict):
                raise InvalidRequest(f"Item with id '{items[i]['id']}' not found.", param=f"input.{i}.id")
            resolved[i] = found
        return resolved

    async def delete(self, tenant: str, response_id: str) -> bool:
        key = _KEY.format(tenant=tenant, id=response_id)
        raw = await self._store.get(key)
        if raw is None:
            return False
        stored = orjson.loads(raw)
        record = await self.get(tenant, response_id)
        output = (record or {}).get("response", {}).get("output", [])
        for item in output:
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                await self._store.delete(_ITEM_KEY.format(tenant=tenant, id=item["id"]))
        await self._store.delete(key)
        if isinstance(stored, dict) and "blob" in stored:
            await self._blob_call(lambda blobs: blobs.delete(stored["blob"]))
        return True

    async def _get_many(self, tenant: str, response_ids: list[str]) -> list[Record | None]:
        """The records in one read of the state store, and the blob store's in parallel."""
        if not response_ids:
            return []
        raws = await self._store.get_many([_KEY.format(tenant=tenant, id=rid) for rid in response_ids])
        found: list[Record | None] = []
        for raw in raws:
            record = orjson.loads(raw) if raw is not None else None
            found.append(record if isinstance(record, dict) else None)
        kept = [i for i, record in enumerate(found) if record is not None and "blob" in record]
        for i, record in zip(kept, await asyncio.gather(*(self._read_blob(found[i]) for i in kept)), strict=True):
            found[i] = record
        return found

    async def _read_blob(self, reference: Record | None) -> Record | None:
        from qwen_server.blob.base import BlobNotFound

        key = str((reference or {}).get("blob"))
        try:
            record = orjson.loads(await self._blob_call(lambda blobs: blobs.read(key)))
        except BlobNotFound:
            return None
        return record if isinstance(record, dict) else None

    async def _blob_call(self, call: Callable[[BlobStore], Awaitable[Any]]) -> Any:
        """A blob store operation, its failures as the store's (503) rather than an unexpected error."""
        from qwen_server.blob.base import BlobError, BlobNotFound

        try:
            return await call(await self._blobs())
        except BlobNotFound:
            raise
        except BlobError as exc:
            raise StoreUnavailable(f"the blob store holding large stored responses failed: {exc}") from None


def _output_item(record: Record | None, item_id: str) -> dict[str, Any] | None:
    output = (record or {}).get("response", {}).get("output", [])
    return next((x for x in output if isinstance(x, dict) and x.get("id") == item_id), None)
