"""File operations shared by the routes and the batch worker; `read_file_for_tenant` is what message content
(`file_id` parts) resolves through."""

from __future__ import annotations

import mimetypes
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from qwen_server.blob import BlobNotFound, BlobTooLarge
from qwen_server.blob.base import open_found
from qwen_server.core.errors import NotFound, PayloadTooLarge
from qwen_server.files import records
from qwen_server.files.records import Api, FileRecord
from qwen_server.store.base import Store

if TYPE_CHECKING:
    from qwen_server.media.resolve import StoredFile


def file_not_found(file_id: str) -> NotFound:
    return NotFound(f"No such File object: {file_id}", param="file_id", code="file_not_found")


async def store_upload(
    store: Store,
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
    from qwen_server.blob.service import get_blobs

    blobs = await get_blobs()
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
        info = await blobs.store.put(record.blob_key, chunks, record.media_type, limit=limit)
    except BlobTooLarge:
        raise PayloadTooLarge(
            f"The file is larger than the limit of {limit} bytes (FILES_MAX_BYTES)", code="file_too_large"
        ) from None
    record.size = info.size
    if save:
        await records.save(store, record)
    return record


async def store_generated(
    store: Store,
    chunks: AsyncIterator[bytes],
    *,
    tenant: str,
    api: Api,
    purpose: str,
    filename: str,
    media_type: str,
) -> FileRecord:
    """A file the gateway produced (a batch's output or errors), streamed in: downloadable on both APIs."""
    from qwen_server.blob.service import get_blobs

    blobs = await get_blobs()
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
        downloadable=True,
    )
    record.size = (await blobs.store.put(record.blob_key, chunks, media_type)).size
    await records.save(store, record)
    return record


async def get_file(store: Store, tenant: str, file_id: str) -> FileRecord:
    record = await records.load(store, tenant, file_id)
    if record is None:
        raise file_not_found(file_id)
    return record


async def delete_file(store: Store, tenant: str, file_id: str) -> FileRecord:
    from qwen_server.blob.service import get_blobs

    record = await get_file(store, tenant, file_id)
    await store.delete(records.record_key(tenant, file_id))
    await (await get_blobs()).store.delete(record.blob_key)
    return record


async def open_content(record: FileRecord) -> AsyncIterator[bytes]:
    """The file's bytes as a stream; a file whose bytes are gone is a 404 before the first byte."""
    from qwen_server.blob.service import get_blobs

    try:
        return await open_found((await get_blobs()).store, record.blob_key)
    except BlobNotFound:
        raise file_not_found(record.id) from None


async def read_bytes(record: FileRecord) -> bytes:
    from qwen_server.blob.service import get_blobs

    try:
        return await (await get_blobs()).store.read(record.blob_key)
    except BlobNotFound:
        raise file_not_found(record.id) from None


async def read_file_for_tenant(tenant: str, file_id: str) -> tuple[bytes, str, str]:
    """(bytes, media type, filename) of `tenant`'s file `file_id`: what a `file_id` in message content means.

    Another tenant's file, or one that does not exist, is the same `NotFound`."""
    from qwen_server.app.runtime import get_runtime

    runtime = await get_runtime()
    record = await get_file(runtime.store, tenant, file_id)
    return await read_bytes(record), record.media_type, record.filename


async def media_file_source(file_id: str, tenant: str) -> StoredFile | None:
    """The Files API as a source of `file_id` message parts (registered with `media.resolve` when the runtime
    is built): the tenant's file, or None when the tenant has no such file."""
    from qwen_server.app.runtime import get_runtime
    from qwen_server.media.resolve import StoredFile

    record = await records.load((await get_runtime()).store, tenant, file_id)
    if record is None:
        return None
    return StoredFile(await read_bytes(record), record.media_type, record.filename)
