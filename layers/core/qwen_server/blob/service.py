"""The process's blob store and link signer, built on first use from the settings and the shared store."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from starlette.requests import Request

from qwen_server.blob import BlobStore, open_blob_store
from qwen_server.blob.links import LinkTarget, make_token, read_token, signing_secret

LINK_PATH = "/v1/blobs/"


@dataclass
class Blobs:
    store: BlobStore
    secret: bytes
    link_seconds: float
    public_base_url: str | None

    def link(
        self,
        request: Request | None,
        key: str,
        content_type: str,
        filename: str | None = None,
        seconds: float | None = None,
    ) -> str:
        """An absolute, signed, expiring URL serving the blob; `PUBLIC_BASE_URL` when set, else the request's
        own origin (so it works behind the same host the client called)."""
        expires = int(time.time() + (self.link_seconds if seconds is None else seconds))
        token = make_token(self.secret, LinkTarget(key, content_type, filename, expires))
        base = self.public_base_url or (str(request.base_url) if request is not None else "")
        return f"{base.rstrip('/')}{LINK_PATH}{token}"

    def target(self, token: str) -> LinkTarget:
        return read_token(self.secret, token)


_blobs: Blobs | None = None
_lock = asyncio.Lock()


async def get_blobs() -> Blobs:
    global _blobs
    if _blobs is not None:
        return _blobs
    async with _lock:
        if _blobs is None:
            from qwen_server.app.runtime import get_runtime

            runtime = await get_runtime()
            settings = runtime.settings
            _blobs = Blobs(
                store=open_blob_store(settings.blob_url, settings.data_dir, settings.s3_endpoint_url),
                secret=await signing_secret(settings.blob_signing_key, runtime.store),
                link_seconds=settings.blob_link_seconds,
                public_base_url=settings.public_base_url,
            )
    return _blobs


def reset_blobs() -> None:
    global _blobs
    _blobs = None
