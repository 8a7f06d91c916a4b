"""The blob store protocol: bytes too big for the metadata store (uploaded files, batch results, generated
images and videos), addressed by key.

Writes stream from an async iterator with a bounded buffer and stop at a size limit, so an upload never sits
whole in memory and an oversize one fails early. Reads stream too. Keys are made by the gateway (never taken
from a client), e.g. `files/<tenant>/<id>`. A blob written with `expires_at` is reclaimed after it
(`blob.expiry`: S3 lifecycle rules, or `sweep` for local files).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


class BlobError(Exception):
    """The blob store cannot be reached or refused an operation."""


class BlobNotFound(BlobError):
    """No blob under that key."""


class BlobTooLarge(BlobError):
    """A write went past its size limit; nothing was kept."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"larger than {limit} bytes")
        self.limit = limit


@dataclass(frozen=True, slots=True)
class BlobInfo:
    size: int
    sha256: str


@runtime_checkable
class BlobStore(Protocol):
    async def put(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        content_type: str = "application/octet-stream",
        limit: int | None = None,
        expires_at: float | None = None,
    ) -> BlobInfo:
        """Store the chunks under `key` (replacing any blob there); `BlobTooLarge` past `limit` bytes.
        `expires_at` (epoch seconds): reclaim the blob after it; None keeps it until deleted."""
        ...

    async def put_bytes(
        self,
        key: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        expires_at: float | None = None,
    ) -> BlobInfo: ...

    async def set_expiry(self, key: str, expires_at: float | None) -> None:
        """Change when a stored blob is reclaimed (a file whose `expires_after` came after its bytes)."""
        ...

    async def sweep(self, now: float) -> int:
        """Delete the blobs whose expiry is before `now`; how many. S3 leaves this to the bucket's lifecycle
        rules and answers 0."""
        ...

    def open(self, key: str, chunk_size: int = 256 * 1024) -> AsyncIterator[bytes]:
        """The blob's bytes in chunks; `BlobNotFound` on the first `__anext__` when absent."""
        ...

    async def read(self, key: str) -> bytes: ...

    async def size(self, key: str) -> int | None:
        """The blob's size, or None when absent."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the blob; absent is fine."""
        ...


async def one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def open_found(store: BlobStore, key: str, chunk_size: int = 256 * 1024) -> AsyncIterator[bytes]:
    """The blob's chunks, with `BlobNotFound` raised here rather than at the first chunk: a route can answer
    404 before it starts a 200 response."""
    chunks = store.open(key, chunk_size)
    try:
        first = await chunks.__anext__()
    except StopAsyncIteration:
        first = b""

    async def rest() -> AsyncIterator[bytes]:
        yield first
        async for chunk in chunks:
            yield chunk

    return rest()
