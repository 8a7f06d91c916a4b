"""A file's metadata and where it lives in the state store (`files:<tenant>:<id>`).

The tenant is part of the key, so another tenant's lookup finds nothing (a 404) without a separate check, and a
tenant's listing is one prefix scan.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import orjson

from qwen_server.core.ids import base62_id
from qwen_server.store.base import Store

Api = Literal["openai", "anthropic"]
PREFIX = "files:"


@dataclass(slots=True)
class FileRecord:
    id: str
    tenant: str
    api: Api
    filename: str
    purpose: str
    size: int
    media_type: str
    created_at: int
    expires_at: int | None = None
    downloadable: bool = True  # Anthropic serves the content only of files the gateway produced
    status: str = "processed"
    created_precise: float = 0.0  # orders a listing within one second

    @property
    def blob_key(self) -> str:
        return f"files/{self.tenant}/{self.id}"

    def dump(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def load(cls, raw: bytes) -> FileRecord:
        data: dict[str, Any] = orjson.loads(raw)
        return cls(**data)


def new_file_id(api: Api) -> str:
    """OpenAI's `file-<24 base62>`; Anthropic's `file_011<24 base62>`."""
    tail = base62_id(24)
    return f"file-{tail}" if api == "openai" else f"file_011{tail}"


def record_key(tenant: str, file_id: str) -> str:
    return f"{PREFIX}{tenant}:{file_id}"


async def save(store: Store, record: FileRecord) -> None:
    ttl = None if record.expires_at is None else max(1.0, record.expires_at - _now())
    await store.set(record_key(record.tenant, record.id), record.dump(), ttl=ttl)


async def load(store: Store, tenant: str, file_id: str) -> FileRecord | None:
    raw = await store.get(record_key(tenant, file_id))
    return FileRecord.load(raw) if raw else None


async def listing(store: Store, tenant: str, api: Api) -> list[FileRecord]:
    """The tenant's files of one API, newest first (ties broken by id, so paging is stable)."""
    found = [FileRecord.load(v) for v in (await store.scan(f"{PREFIX}{tenant}:")).values()]
    mine = [r for r in found if r.api == api]
    mine.sort(key=lambda r: (r.created_precise, r.id), reverse=True)
    return mine


def _now() -> float:
    import time

    return time.time()
