"""Blobs in a Vercel Blob store (`BLOB_READ_WRITE_TOKEN`, or `BLOB_URL=vercel-blob://prefix`), over its REST API
with httpx: a Vercel install of the project has neither boto3 nor a shared disk, and `/tmp` is per instance.

The store is private: every blob is read back with the token, never by a public URL; clients get the
gateway's own signed links (`/v1/blobs/...`) or bytes, as with the other backends. The API, as Vercel's SDKs
speak it: `PUT {api}/?pathname=` stores a body (headers `x-content-type`, `x-allow-overwrite`,
`x-add-random-suffix`, `x-vercel-blob-access`); `POST {api}/mpu` with `x-mpu-action` create / upload / complete
is the multipart upload (every part but the last at least 5 MiB); `GET {api}/?url=<pathname>` answers a blob's
metadata (404 when absent), and without `url` lists blobs by `prefix` (paged by `cursor`); the blob's own
`url` serves its bytes; `POST {api}/delete` removes blobs. Memory stays bounded: bodies go up one part at a time.

Vercel Blob has no lifecycle rules: as on local disks, a blob's expiry is a small blob beside it
(`.expiry/<key>`, epoch seconds), written before the blob, and `sweep` lists those marks and deletes what is due.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx

from qwen_server.blob.base import BlobError, BlobInfo, BlobNotFound, BlobTooLarge, one_chunk
from qwen_server.blob.expiry import MARKS_DIR, mark_bytes, marked_expiry

API_URL = "https://vercel.com/api/blob"  # the endpoint Vercel's SDKs call (VERCEL_BLOB_API_URL overrides it)
API_VERSION = "12"
PART_BYTES = 8 * 1024 * 1024


class VercelBlobStore:
    def __init__(
        self,
        token: str,
        prefix: str = "",
        api_url: str | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if not token:
            raise BlobError("Vercel Blob needs BLOB_READ_WRITE_TOKEN (connect a Blob store to the project)")
        self.prefix = prefix.strip("/")
        self.api = (api_url or API_URL).rstrip("/")
        self._auth = {"authorization": f"Bearer {token}", "x-api-version": API_VERSION}
        self._client = client or httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0))

    def _path(self, key: str) -> str:
        if key.split("/", 1)[0] == MARKS_DIR:
            raise ValueError("blob keys may not name the expiry marks")
        return f"{self.prefix}/{key}" if self.prefix else key

    def _mark_path(self, key: str) -> str:
        return f"{self.prefix}/{MARKS_DIR}/{key}" if self.prefix else f"{MARKS_DIR}/{key}"

    async def set_expiry(self, key: str, expires_at: float | None) -> None:
        """Write (or, with None, remove) the blob's expiry mark."""
        if expires_at is None:
            await self._send("POST", f"{self.api}/delete", json={"urls": [self._mark_path(key)]})
        else:
            await self._store_small(self._mark_path(key), mark_bytes(expires_at), "text/plain")

    async def sweep(self, now: float) -> int:
        """Delete every blob whose mark says it expired before `now`, with its mark; how many."""
        marks = self._mark_path("")
        due: list[str] = []
        cursor: str | None = None
        while True:
            params = {"prefix": marks, "limit": "1000", **({"cursor": cursor} if cursor else {})}
            page = (await self._send("GET", f"{self.api}/", params=params)).json()
            for found in page.get("blobs", []):
                if marked_expiry(await self._download(found["url"])) < now:
                    due.append(found["pathname"][len(marks) :])
            cursor = page.get("cursor")
            if not page.get("hasMore") or not cursor:
                break
        for key in due:
            await self.delete(key)
        return len(due)

    async def _download(self, url: str) -> bytes:
        try:
            response = await self._client.get(url, headers=self._auth)
        except httpx.HTTPError as exc:
            raise BlobError(f"Vercel Blob download failed: {type(exc).__name__}") from None
        return response.content if response.is_success else b""

    async def _store_small(self, pathname: str, data: bytes, content_type: str) -> None:
        headers = {
            "x-content-type": content_type,
            "x-allow-overwrite": "1",
            "x-add-random-suffix": "0",
            "x-vercel-blob-access": "private",
        }
        await self._send("PUT", f"{self.api}/", params={"pathname": pathname}, headers=headers, content=data)

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = {**self._auth, **kwargs.pop("headers", {})}
        try:
            response = await self._client.request(method, url, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise BlobError(f"Vercel Blob {method} failed: {type(exc).__name__}") from None
        if response.status_code == 404:
            raise BlobNotFound(url)
        if response.is_error:
            raise BlobError(f"Vercel Blob {method} answered {response.status_code}: {_reason(response)}")
        return response

    async def put(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        content_type: str = "application/octet-stream",
        limit: int | None = None,
        expires_at: float | None = None,
    ) -> BlobInfo:
        await self.set_expiry(key, expires_at)  # the mark first: a blob is never left without its expiry
        pathname = self._path(key)
        params = {"pathname": pathname}
        headers = {
            "x-content-type": content_type,
            "x-allow-overwrite": "1",
            "x-add-random-suffix": "0",
            "x-vercel-blob-access": "private",
        }
        digest, size = hashlib.sha256(), 0
        buffer = bytearray()
        upload: dict[str, str] | None = None
        parts: list[dict[str, Any]] = []

        async def send_part(data: bytes) -> None:
            nonlocal upload
            if upload is None:
                created = await self._send(
                    "POST", f"{self.api}/mpu", params=params, headers={**headers, "x-mpu-action": "create"}
                )
                body = created.json()
                upload = {"x-mpu-key": quote(body["key"], safe="~()*!.'-"), "x-mpu-upload-id": body["uploadId"]}
            number = len(parts) + 1
            sent = await self._send(
                "POST",
                f"{self.api}/mpu",
                params=params,
                headers={**headers, **upload, "x-mpu-action": "upload", "x-mpu-part-number": str(number)},
                content=data,
            )
            parts.append({"partNumber": number, "etag": sent.json()["etag"]})

        async for chunk in chunks:
            size += len(chunk)
            if limit is not None and size > limit:
                raise BlobTooLarge(limit)  # an unfinished multipart upload is never a blob
            digest.update(chunk)
            buffer += chunk
            while len(buffer) >= PART_BYTES:
                await send_part(bytes(buffer[:PART_BYTES]))
                del buffer[:PART_BYTES]
        if upload is None:
            await self._send("PUT", f"{self.api}/", params=params, headers=headers, content=bytes(buffer))
        else:
            if buffer:
                await send_part(bytes(buffer))
            await self._send(
                "POST",
                f"{self.api}/mpu",
                params=params,
                headers={**headers, **upload, "x-mpu-action": "complete"},
                json=parts,
            )
        return BlobInfo(size, digest.hexdigest())

    async def put_bytes(
        self,
        key: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        expires_at: float | None = None,
    ) -> BlobInfo:
        return await self.put(key, one_chunk(data), content_type, expires_at=expires_at)

    async def _head(self, key: str) -> dict[str, Any]:
        found: dict[str, Any] = (await self._send("GET", f"{self.api}/", params={"url": self._path(key)})).json()
        return found

    async def open(self, key: str, chunk_size: int = 256 * 1024) -> AsyncIterator[bytes]:
        url = (await self._head(key))["url"]
        request = self._client.build_request("GET", url, headers=self._auth)
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise BlobError(f"Vercel Blob download failed: {type(exc).__name__}") from None
        try:
            if response.status_code == 404:
                raise BlobNotFound(key)
            if response.is_error:
                raise BlobError(f"Vercel Blob download answered {response.status_code}")
            async for chunk in response.aiter_bytes(chunk_size):
                yield chunk
        finally:
            await response.aclose()

    async def read(self, key: str) -> bytes:
        return b"".join([chunk async for chunk in self.open(key)])

    async def size(self, key: str) -> int | None:
        try:
            return int((await self._head(key))["size"])
        except BlobNotFound:
            return None

    async def delete(self, key: str) -> None:
        """The blob and its expiry mark, in one call."""
        await self._send("POST", f"{self.api}/delete", json={"urls": [self._path(key), self._mark_path(key)]})


def _reason(response: httpx.Response) -> str:
    try:
        error = response.json().get("error", {})
        return str(error.get("code") or error.get("message") or "error")
    except ValueError:
        return "error"
