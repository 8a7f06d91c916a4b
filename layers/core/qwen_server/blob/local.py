"""Blobs as files under a directory (`file://` URLs; `DATA_DIR/blobs` by default).

A write goes to a temporary file beside its target and is renamed into place, so a reader never sees half a
blob and a failed write leaves nothing. File I/O runs in a worker thread so the event loop never blocks on disk.

A blob's expiry is a small file `.expiry/<key>` holding epoch seconds, written before the blob (a crash in
between leaves a mark for nothing, never a blob that is not reclaimed); `sweep` walks `.expiry/` and deletes
what is due. Blobs without a mark (uploads without `expires_after`) are kept until deleted.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import IO

import anyio

from qwen_server.blob.base import BlobInfo, BlobNotFound, BlobTooLarge, one_chunk
from qwen_server.blob.expiry import MARKS_DIR, mark_bytes, marked_expiry

_PART = ".part-"


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if (
            not path.is_relative_to(self.root.resolve())
            or not key
            or key.endswith("/")
            or key.split("/", 1)[0] == MARKS_DIR
        ):
            raise ValueError("blob keys are relative paths inside the store")
        return path

    def _mark(self, key: str, expires_at: float | None) -> None:
        """Write (or, with None, remove) the blob's expiry mark, atomically."""
        marker = self.root / MARKS_DIR / key
        if expires_at is None:
            marker.unlink(missing_ok=True)
            return
        marker.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=marker.parent, prefix=_PART)
        with os.fdopen(fd, "wb") as handle:
            handle.write(mark_bytes(expires_at))
        os.replace(tmp, marker)

    async def set_expiry(self, key: str, expires_at: float | None) -> None:
        self._path(key)
        await anyio.to_thread.run_sync(self._mark, key, expires_at)

    async def sweep(self, now: float) -> int:
        return await anyio.to_thread.run_sync(self._sweep, now)

    def _sweep(self, now: float) -> int:
        base = self.root / MARKS_DIR
        removed = 0
        for folder, _, names in os.walk(base):
            for name in names:
                marker = Path(folder) / name
                if name.startswith(_PART) or _due(marker) > now:
                    continue
                key = marker.relative_to(base).as_posix()
                with contextlib.suppress(ValueError):
                    self._path(key).unlink(missing_ok=True)
                marker.unlink(missing_ok=True)
                removed += 1
        return removed

    async def put(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        content_type: str = "application/octet-stream",
        limit: int | None = None,
        expires_at: float | None = None,
    ) -> BlobInfo:
        path = self._path(key)
        await anyio.to_thread.run_sync(self._mark, key, expires_at)
        await anyio.to_thread.run_sync(lambda: path.parent.mkdir(parents=True, exist_ok=True))
        fd, tmp = await anyio.to_thread.run_sync(lambda: tempfile.mkstemp(dir=path.parent, prefix=".part-"))
        digest, size = hashlib.sha256(), 0
        handle: IO[bytes] = os.fdopen(fd, "wb")
        try:
            async for chunk in chunks:
                size += len(chunk)
                if limit is not None and size > limit:
                    raise BlobTooLarge(limit)
                digest.update(chunk)
                await anyio.to_thread.run_sync(handle.write, chunk)
            await anyio.to_thread.run_sync(handle.close)
            await anyio.to_thread.run_sync(os.replace, tmp, path)
        except BaseException:
            handle.close()
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(lambda: Path(tmp).unlink(missing_ok=True))
            raise
        return BlobInfo(size, digest.hexdigest())

    async def put_bytes(
        self,
        key: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        expires_at: float | None = None,
    ) -> BlobInfo:
        return await self.put(key, one_chunk(data), content_type, expires_at=expires_at)

    async def open(self, key: str, chunk_size: int = 256 * 1024) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            handle = await anyio.to_thread.run_sync(path.open, "rb")
        except FileNotFoundError:
            raise BlobNotFound(key) from None
        try:
            while chunk := await anyio.to_thread.run_sync(handle.read, chunk_size):
                yield chunk
        finally:
            handle.close()

    async def read(self, key: str) -> bytes:
        try:
            return await anyio.to_thread.run_sync(self._path(key).read_bytes)
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    async def size(self, key: str) -> int | None:
        path = self._path(key)
        try:
            return (await anyio.to_thread.run_sync(path.stat)).st_size
        except FileNotFoundError:
            return None

    async def delete(self, key: str) -> None:
        path = self._path(key)
        await anyio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))
        await anyio.to_thread.run_sync(self._mark, key, None)


def _due(marker: Path) -> float:
    """When the mark says its blob expires (never, for a mark that is unreadable or gone)."""
    try:
        return marked_expiry(marker.read_bytes())
    except OSError:
        return float("inf")
