"""File operations shared by the routes, the batch worker and message content (`file_id` parts): metadata in
the state store, bytes in the blob store, both handed in by whoever composes the runtime (the blob store as a
source, opened on the first operation that needs bytes: reading metadata never opens it)."""

from __future__ import annotations

import functools
import mimetypes
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

from qwen_server.blob import BlobNotFound, BlobStore, BlobTooLarge
from qwen_server.blob.base import open_found
from qwen_server.core.errors import NotFound, PayloadTooLarge
from qwen_server.files import records
from qwen_server.files.records import Api, FileRecord
from qwen_server.store.base import Store

if TYPE_CHECKING:
    from qwen_server.media.resolve import StoredFile


BlobSource = Callable[[], Awaitable[BlobStore]]


def file_not_found(file_id: str) -> NotFound:
    return NotFound(f"No such File object: {file_id}", param="file_id", code="file_not_found")


class Files:
    """One tenant's files at a time: every read checks the owner (another tenant's id is a 404)."""

    def __init__(self, store: Store, blob: BlobSource) -> None:
        self.store = store
        self.blob = blob  # the blob store, on first use (`await files.blob()`)

    async def upload(
        self,
        chunks: AsyncIterator[bytes],
        *,
        tenant: str,
        api: Api,
        limit: int,
        purpose: str,
        filename: str | None,
        media_type: str | None,
        expires_at: int | None = None,
        file_id: str | None = None,
        save: bool = True,
    ) -> FileRecord:
        """Stream `chunks` to the blob store (413 past `limit`), then write the metadata (unless `save` is
        False: the caller completes the record from what the upload held, then saves it)."""
        blob = await self.blob()
        name = filename or "upload"
        now = time.time()
        record = FileRecord(
            id=file_id or records.new_file_id(api),
            tenant=tenant,
            api=api,
            filename=name,
            purpose=purpose,
            size=0,
            media_type=media_type or mimetypes.guess_type(name)[0] or "application/octet-stream",
            created_at=int(now),
            created_precise=now,
            expires_at=expires_at,
            downloadable=api == "openai",
        )
        try:
            info = await blob.put(
                record.blob_key, chunks, record.media_type, limit=limit, expires_at=record.expires_at
            )
        except BlobTooLarge:
            raise PayloadTooLarge(
                f"The file is larger than the limit of {limit} bytes (FILES_MAX_BYTES)", code="file_too_large"
            ) from None
        record.size = info.size
        if save:
            await records.save(self.store, record)
        return record

    async def save(self, record: FileRecord) -> None:
        """Write the metadata of an upload completed after its bytes (its form's fields came later): an
        `expires_after` among them is given to the blob as well, so the bytes go when the record does."""
        if record.expires_at is not None:
            await (await self.blob()).set_expiry(record.blob_key, record.expires_at)
        await records.save(self.store, record)

    async def discard(self, record: FileRecord) -> None:
        """Drop the bytes of an upload whose metadata was never saved (its form was refused)."""
        await (await self.blob()).delete(record.blob_key)

    async def generated(
        self,
        chunks: AsyncIterator[bytes],
        *,
        tenant: str,
        api: Api,
        purpose: str,
        filename: str,
        media_type: str,
        expires_at: int | None = None,
    ) -> FileRecord:
        """A file the gateway produced (a batch's output or errors), streamed in: downloadable on both APIs,
        kept until `expires_at` when given."""
        blob = await self.blob()
        now = time.time()
        record = FileRecord(
            id=records.new_file_id(api),
            tenant=tenant,
            api=api,
            filename=filename,
            purpose=purpose,
            size=0,
            media_type=media_type,
            created_at=int(now),
            created_precise=now,
            expires_at=expires_at,
            downloadable=True,
        )
        record.size = (await blob.put(record.blob_key, chunks, media_type, expires_at=expires_at)).size
        await records.save(self.store, record)
        return record

    async def get(self, tenant: str, file_id: str) -> FileRecord:
        record = await records.load(self.store, tenant, file_id)
        if record is None:
            raise file_not_found(file_id)
        return record

    async def delete(self, tenant: str, file_id: str) -> FileRecord:
        record = await self.get(tenant, file_id)
        await self.store.delete(records.record_key(tenant, file_id))
        await (await self.blob()).delete(record.blob_key)
        return record

    async def open_content(self, record: FileRecord) -> AsyncIterator[bytes]:
        """The file's bytes as a stream; a file whose bytes are gone is a 404 before the first byte."""
        try:
            return await open_found(await self.blob(), record.blob_key)
        except BlobNotFound:
            raise file_not_found(record.id) from None

    async def read_bytes(self, record: FileRecord) -> bytes:
        try:
            return await (await self.blob()).read(record.blob_key)
        except BlobNotFound:
            raise file_not_found(record.id) from None

    async def read_head(self, record: FileRecord, size: int) -> bytes:
        """The file's first `size` bytes (or fewer), without reading the rest."""
        chunks = (await self.blob()).open(record.blob_key, size)
        try:
            return await anext(chunks, b"")
        except BlobNotFound:
            raise file_not_found(record.id) from None
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]

    async def stored(self, file_id: str, tenant: str) -> StoredFile | None:
        """The Files API as a source of `file_id` message parts (`media.resolve.FileSource`): the tenant's
        file from its metadata, unread, or None when the tenant has no such file."""
        from qwen_server.media.resolve import StoredFile

        record = await records.load(self.store, tenant, file_id)
        if record is None:
            return None
        return StoredFile(
            record.size,
            record.media_type,
            record.filename,
            read=functools.partial(self.read_bytes, record),
            head=functools.partial(self.read_head, record),
        )
