"""Blobs in an S3 bucket (`s3://bucket/prefix`), through boto3 (imported only when this backend is chosen).

Small blobs are one `PutObject`; bigger ones a multipart upload fed from a buffer of one part, so memory stays
bounded whatever the size, and a failed or oversize write aborts the upload and leaves nothing. Any
S3-compatible service works: `S3_ENDPOINT_URL` (or boto3's own `AWS_ENDPOINT_URL`) points elsewhere than AWS.
boto3 is synchronous; each call runs in a worker thread.

A blob with an expiry is tagged `qwen-expiry=<n>d` as it is written (`blob.expiry`); the bucket's lifecycle
rules delete it n days later. Tagging on upload needs `s3:PutObjectTagging` besides `s3:PutObject`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any
from urllib.parse import urlencode

import anyio

from qwen_server.blob.base import BlobError, BlobInfo, BlobNotFound, BlobTooLarge, one_chunk
from qwen_server.blob.expiry import TAG, lifecycle_days, tag_value

PART_BYTES = 8 * 1024 * 1024  # S3's multipart minimum is 5 MiB for every part but the last


class S3BlobStore:
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise BlobError("BLOB_URL names S3 but boto3 is not installed (pip install boto3)") from exc
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._clock = clock
        config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=30)
        self._s3: Any = boto3.client("s3", endpoint_url=endpoint_url or None, config=config)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _tags(self, expires_at: float | None) -> dict[str, str]:
        """The tag set of a blob expiring at `expires_at` (none: kept until deleted)."""
        days = None if expires_at is None else lifecycle_days(expires_at, self._clock())
        return {} if days is None else {TAG: tag_value(days)}

    async def _call(self, name: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return await anyio.to_thread.run_sync(lambda: getattr(self._s3, name)(**kwargs))
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "404", "NotFound"):
                raise BlobNotFound(kwargs.get("Key", "")) from None
            raise BlobError(f"S3 {name} failed: {code or 'error'}") from None
        except BotoCoreError as exc:
            raise BlobError(f"S3 {name} failed: {type(exc).__name__}") from None

    async def put(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        content_type: str = "application/octet-stream",
        limit: int | None = None,
        expires_at: float | None = None,
    ) -> BlobInfo:
        target = self._key(key)
        tagging = {"Tagging": urlencode(tags)} if (tags := self._tags(expires_at)) else {}
        digest, size = hashlib.sha256(), 0
        buffer = bytearray()
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []

        async def send_part(data: bytes) -> None:
            nonlocal upload_id
            if upload_id is None:
                created = await self._call(
                    "create_multipart_upload",
                    Bucket=self.bucket,
                    Key=target,
                    ContentType=content_type,
                    **tagging,
                )
                upload_id = str(created["UploadId"])
            number = len(parts) + 1
            sent = await self._call(
                "upload_part",
                Bucket=self.bucket,
                Key=target,
                UploadId=upload_id,
                PartNumber=number,
                Body=data,
            )
            parts.append({"PartNumber": number, "ETag": sent["ETag"]})

        try:
            async for chunk in chunks:
                size += len(chunk)
                if limit is not None and size > limit:
                    raise BlobTooLarge(limit)
                digest.update(chunk)
                buffer += chunk
                while len(buffer) >= PART_BYTES:
                    await send_part(bytes(buffer[:PART_BYTES]))
                    del buffer[:PART_BYTES]
            if upload_id is None:
                await self._call(
                    "put_object",
                    Bucket=self.bucket,
                    Key=target,
                    Body=bytes(buffer),
                    ContentType=content_type,
                    **tagging,
                )
            else:
                if buffer:
                    await send_part(bytes(buffer))
                await self._call(
                    "complete_multipart_upload",
                    Bucket=self.bucket,
                    Key=target,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )
        except BaseException:
            if upload_id is not None:
                with anyio.CancelScope(shield=True):
                    try:
                        await self._call(
                            "abort_multipart_upload", Bucket=self.bucket, Key=target, UploadId=upload_id
                        )
                    except BlobError:
                        pass  # the bucket's lifecycle rule removes abandoned parts
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

    async def set_expiry(self, key: str, expires_at: float | None) -> None:
        tags = [{"Key": k, "Value": v} for k, v in self._tags(expires_at).items()]
        await self._call(
            "put_object_tagging", Bucket=self.bucket, Key=self._key(key), Tagging={"TagSet": tags}
        )

    async def sweep(self, now: float) -> int:
        return 0  # the bucket's lifecycle rules delete tagged objects

    async def open(self, key: str, chunk_size: int = 256 * 1024) -> AsyncIterator[bytes]:
        reply = await self._call("get_object", Bucket=self.bucket, Key=self._key(key))
        body = reply["Body"]
        try:
            while chunk := await anyio.to_thread.run_sync(body.read, chunk_size):
                yield chunk
        finally:
            body.close()

    async def read(self, key: str) -> bytes:
        reply = await self._call("get_object", Bucket=self.bucket, Key=self._key(key))
        data: bytes = await anyio.to_thread.run_sync(reply["Body"].read)
        return data

    async def size(self, key: str) -> int | None:
        try:
            head = await self._call("head_object", Bucket=self.bucket, Key=self._key(key))
        except BlobNotFound:
            return None
        return int(head["ContentLength"])

    async def delete(self, key: str) -> None:
        await self._call("delete_object", Bucket=self.bucket, Key=self._key(key))
