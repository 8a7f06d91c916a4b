"""A batch's record and the store keys around it.

| key | value |
|---|---|
| `batch:<tenant>:<id>` | the record (JSON); updated only by compare-and-set |
| `batches-active:<tenant>:<id>` | present while workers have something to do (their work list: one scan) |
| `batch-line:<id>:<index>` | one line's result, written once (`set_if_absent`) |
| `batch-chunk-done:<id>:<chunk>` | every line of the chunk has its result |
| lease `batch-chunk:<id>:<chunk>` (one slot) | the worker processing the chunk; lapses when it dies |
| lease `batch-final:<id>` (one slot) | the worker gathering the results |

Lines are kept as chunk blobs (`batches/<tenant>/<id>/chunk-<n>.jsonl`) in the blob store, one request per line.
The chunks, output and error files and results expire with the record (`RETAIN_SECONDS` after creation);
the finalizer deletes the chunks at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import orjson

from qwen_server.core.ids import base62_id, hex_id
from qwen_server.store.base import Store

Api = Literal["openai", "anthropic"]
# validating -> in_progress -> finalizing -> completed; failed; expired; cancelling -> cancelled
Status = Literal[
    "validating", "failed", "in_progress", "finalizing", "completed", "expired", "cancelling", "cancelled"
]
ENDED = frozenset({"failed", "completed", "expired", "cancelled"})
WINDOW_SECONDS = 24 * 3600
RETAIN_SECONDS = 29 * 24 * 3600  # Anthropic keeps results 29 days after creation
ACTIVE = "batches-active:"


@dataclass(slots=True)
class BatchRecord:
    id: str
    tenant: str
    api: Api
    endpoint: str
    status: Status
    created_at: float
    expires_at: float
    total: int = 0
    chunks: int = 0
    chunk_lines: int = 0
    input_file_id: str | None = None
    completion_window: str = "24h"
    metadata: dict[str, str] | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    in_progress_at: float | None = None
    finalizing_at: float | None = None
    completed_at: float | None = None
    failed_at: float | None = None
    expired_at: float | None = None
    cancelling_at: float | None = None
    cancelled_at: float | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    results_key: str | None = None  # Anthropic: the results JSONL blob
    counts: dict[str, int] = field(default_factory=dict)  # final: succeeded/errored/canceled/expired
    usage: dict[str, int] = field(default_factory=dict)

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    @property
    def retained_until(self) -> float:
        """When the record, and everything the batch wrote (chunks, outputs, results), is reclaimed."""
        return self.created_at + RETAIN_SECONDS

    def chunk_key(self, chunk: int) -> str:
        return f"batches/{self.tenant}/{self.id}/chunk-{chunk}.jsonl"

    def dump(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def load(cls, raw: bytes) -> BatchRecord:
        data: dict[str, Any] = orjson.loads(raw)
        return cls(**data)


def new_batch_id(api: Api) -> str:
    if api == "openai":
        return f"batch_{hex_id(32)}"
    return "msgbatch_01" + base62_id(24)


def record_key(tenant: str, batch_id: str) -> str:
    return f"batch:{tenant}:{batch_id}"


def active_key(tenant: str, batch_id: str) -> str:
    return f"{ACTIVE}{tenant}:{batch_id}"


def line_key(batch_id: str, index: int) -> str:
    return f"batch-line:{batch_id}:{index}"


def chunk_done_key(batch_id: str, chunk: int) -> str:
    return f"batch-chunk-done:{batch_id}:{chunk}"


def chunk_lease(batch_id: str, chunk: int) -> str:
    return f"batch-chunk:{batch_id}:{chunk}"


def final_lease(batch_id: str) -> str:
    return f"batch-final:{batch_id}"


async def load(store: Store, tenant: str, batch_id: str) -> BatchRecord | None:
    raw = await store.get(record_key(tenant, batch_id))
    return BatchRecord.load(raw) if raw else None


async def create(store: Store, record: BatchRecord) -> None:
    await store.set(record_key(record.tenant, record.id), record.dump(), ttl=RETAIN_SECONDS)


async def update(
    store: Store, tenant: str, batch_id: str, change: Callable[[BatchRecord], bool]
) -> BatchRecord | None:
    """Apply `change` (which returns False to leave the record as it is) by compare-and-set, retrying when
    another instance wrote in between; the record as it ends up (None when absent)."""
    key = record_key(tenant, batch_id)
    for _ in range(50):
        raw = await store.get(key)
        if raw is None:
            return None
        record = BatchRecord.load(raw)
        if not change(record):
            return record
        if await store.compare_and_set(key, raw, record.dump(), ttl=RETAIN_SECONDS):
            return record
    raise RuntimeError(f"batch {batch_id}: the record kept changing under an update")


async def listing(store: Store, tenant: str, api: Api) -> list[BatchRecord]:
    found = [BatchRecord.load(v) for v in (await store.scan(f"batch:{tenant}:")).values()]
    mine = [r for r in found if r.api == api]
    mine.sort(key=lambda r: (r.created_at, r.id), reverse=True)
    return mine


def now() -> float:
    return time.time()
