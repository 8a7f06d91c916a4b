"""Stored response records: one turn each, large ones in the blob store, a conversation read back in one
batch by the chain of ids its last record keeps; records written before chaining (a whole `context` each) still continue."""

from __future__ import annotations

from pathlib import Path

import orjson

from qwen_server.api.responses.storage import INLINE_BYTES, Conversation, ResponseStore
from qwen_server.blob.base import BlobStore
from qwen_server.blob.local import LocalBlobStore
from qwen_server.store.memory import MemoryStore


def _message(role: str, text: str, item_id: str | None = None) -> dict[str, object]:
    item: dict[str, object] = {"type": "message", "role": role, "content": [{"type": "input_text", "text": text}]}
    if item_id:
        item["id"] = item_id
    return item


def _response(rid: str, previous: str | None, answer: str) -> dict[str, object]:
    return {"id": rid, "previous_response_id": previous, "output": [_message("assistant", answer, f"msg_{rid}")]}


def _texts(conversation: Conversation | None) -> list[str]:
    assert conversation is not None
    return [item["content"][0]["text"] for item in conversation.items]


class BoundedStore(MemoryStore):
    """The memory store with DynamoDB's bound on one value."""

    max_value_bytes = 300 * 1024


def _records(tmp_path: Path, bounded: bool = True) -> tuple[MemoryStore, ResponseStore, LocalBlobStore]:
    store = BoundedStore(clock=lambda: 1000.0) if bounded else MemoryStore(clock=lambda: 1000.0)
    blobs = LocalBlobStore(tmp_path)

    async def open_blobs() -> BlobStore:
        return blobs

    return store, ResponseStore(store, 3600.0, open_blobs, clock=lambda: 1000.0), blobs


async def test_a_conversation_is_rebuilt_turn_by_turn_with_large_turns_in_the_blob_store(tmp_path: Path) -> None:
    store, records, blobs = _records(tmp_path)
    big = "x" * (INLINE_BYTES + 1)
    await records.save("t", _response("r1", None, "one"), [_message("user", big)], [])
    continued = await records.conversation("t", "r1")
    assert continued is not None and continued.chain == ["r1"]
    await records.save("t", _response("r2", "r1", "two"), [_message("user", "second")], continued.chain)
    assert await blobs.size("responses/t/r1.json") is not None  # too large for the store: a reference there
    assert len(await store.get("responses:t:r1") or b"") < 100
    assert await blobs.size("responses/t/r2.json") is None
    assert _texts(await records.conversation("t", "r2")) == [big, "one", "second", "two"]
    assert await records.conversation("other", "r2") is None
    [resolved] = await records.resolve_references("t", [{"type": "item_reference", "id": "msg_r1"}])
    assert resolved["content"][0]["text"] == "one"

    assert await records.delete("t", "r1")
    assert await blobs.size("responses/t/r1.json") is None
    assert _texts(await records.conversation("t", "r2")) == ["second", "two"]  # the deleted turn is gone from the conversation continuing it


async def test_a_store_without_a_bound_keeps_large_records_itself(tmp_path: Path) -> None:
    store, records, blobs = _records(tmp_path, bounded=False)
    big = "x" * (INLINE_BYTES + 1)
    await records.save("t", _response("r1", None, "one"), [_message("user", big)], [])
    assert await blobs.size("responses/t/r1.json") is None
    assert len(await store.get("responses:t:r1") or b"") > INLINE_BYTES
    assert _texts(await records.conversation("t", "r1")) == [big, "one"]


async def test_a_record_holding_the_whole_context_ends_the_walk(tmp_path: Path) -> None:
    store, records, _ = _records(tmp_path)
    old = {
        "response": _response("r1", "r0", "one"),
        "input": [_message("user", "first")],
        "context": [_message("user", "earlier"), _message("user", "first"), _message("assistant", "one")],
    }
    await store.set("responses:t:r1", orjson.dumps(old), ttl=3600)
    continued = await records.conversation("t", "r1")
    assert continued is not None and continued.chain == ["r1"]
    await records.save("t", _response("r2", "r1", "two"), [_message("user", "second")], continued.chain)
    assert _texts(await records.conversation("t", "r2")) == ["earlier", "first", "one", "second", "two"]


class CountingStore(MemoryStore):
    """The memory store, counting its reads: a conversation is read in a fixed number of them."""

    reads = 0

    async def get_many(self, keys: list[str]) -> list[bytes | None]:
        self.reads += 1
        return await super().get_many(keys)


async def test_a_long_conversation_is_read_in_two_reads_whatever_its_length(tmp_path: Path) -> None:
    store = CountingStore(clock=lambda: 1000.0)

    async def open_blobs() -> BlobStore:
        return LocalBlobStore(tmp_path)

    records = ResponseStore(store, 3600.0, open_blobs, clock=lambda: 1000.0)
    chain: list[str] = []
    for n in range(30):
        await records.save("t", _response(f"r{n}", chain[-1] if chain else None, f"a{n}"), [], chain)
        found = await records.conversation("t", f"r{n}")
        assert found is not None
        chain = found.chain
    store.reads = 0
    assert _texts(await records.conversation("t", "r29")) == [f"a{n}" for n in range(30)]
    assert store.reads == 2
    raw = await store.get("responses:t:r29")
    assert raw is not None and len(raw) < 4096  # ids, not the turns they name
