"""The blob store named by `BLOB_URL`: `file://<dir>` (default: `DATA_DIR/blobs`), `s3://bucket/prefix`, or
`vercel-blob://prefix`; with `BLOB_READ_WRITE_TOKEN` set (a Vercel Blob store connected to the project) and no
`BLOB_URL`, Vercel Blob under the prefix `qwen-server`.

The S3 backend (and boto3) is imported only when `BLOB_URL` names it.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from qwen_server.blob.base import BlobError, BlobInfo, BlobNotFound, BlobStore, BlobTooLarge
from qwen_server.core.errors import Misconfigured

__all__ = ["BlobError", "BlobInfo", "BlobNotFound", "BlobStore", "BlobTooLarge", "open_blob_store"]


VERCEL_PREFIX = "qwen-server"


def open_blob_store(
    url: str | None,
    data_dir: Path,
    s3_endpoint_url: str | None = None,
    *,
    vercel_token: str | None = None,
    vercel_api_url: str | None = None,
) -> BlobStore:
    if not url and vercel_token:
        url = f"vercel-blob://{VERCEL_PREFIX}"
    if not url:
        from qwen_server.blob.local import LocalBlobStore

        return LocalBlobStore(data_dir / "blobs")
    parts = urlsplit(url)
    if parts.scheme == "file":
        from qwen_server.blob.local import LocalBlobStore

        return LocalBlobStore(Path(parts.netloc + parts.path) if parts.netloc else Path(parts.path))
    if parts.scheme == "s3" and parts.netloc:
        from qwen_server.blob.s3 import S3BlobStore

        try:
            return S3BlobStore(parts.netloc, parts.path, endpoint_url=s3_endpoint_url)
        except BlobError as exc:
            raise Misconfigured(f"BLOB_URL: {exc}") from None
    if parts.scheme == "vercel-blob":
        from qwen_server.blob.vercel import VercelBlobStore

        if not vercel_token:
            raise Misconfigured("BLOB_URL names Vercel Blob but BLOB_READ_WRITE_TOKEN is not set")
        return VercelBlobStore(vercel_token, parts.netloc + parts.path, api_url=vercel_api_url)
    raise Misconfigured("BLOB_URL must be file:///path, s3://bucket/prefix or vercel-blob://prefix")
