"""The blob store and its links, built by whoever composes the runtime from the settings and the shared state
store (which keeps each link's record, and the signing secret when `BLOB_SIGNING_KEY` is unset)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request

from qwen_server.blob import BlobStore, open_blob_store
from qwen_server.blob.links import LinkTarget, link_id, load_link, new_token, save_link, signing_secret
from qwen_server.core.origin import public_base

if TYPE_CHECKING:
    from qwen_server.config import Settings
    from qwen_server.store.base import Store

LINK_PATH = "/v1/blobs/"


@dataclass
class Blobs:
    store: BlobStore
    secret: bytes
    link_seconds: float
    public_base_url: str | None
    state: Store  # the shared state store: link records

    async def link(
        self,
        request: Request | None,
        key: str,
        content_type: str,
        filename: str | None = None,
        seconds: float | None = None,
    ) -> str:
        """An absolute, signed, expiring URL serving the blob, by an opaque id; `PUBLIC_BASE_URL` when set, else
        the request's own origin and stage (so it works behind the same host and API stage the client called)."""
        now = time.time()
        expires = int(now + (self.link_seconds if seconds is None else seconds))
        found, token = new_token(self.secret)
        await save_link(self.state, found, LinkTarget(key, content_type, filename, expires), now)
        if request is None:
            base = (self.public_base_url or "").rstrip("/")
        else:
            base = public_base(request.scope, str(request.base_url), self.public_base_url)
        return f"{base}{LINK_PATH}{token}"

    async def target(self, token: str) -> LinkTarget:
        """What a link serves; `BadLink` when it is forged, expired or unknown."""
        return await load_link(self.state, link_id(self.secret, token))


async def open_blobs(settings: Settings, store: Store) -> Blobs:
    """The blob store `BLOB_URL` names, signing links with `BLOB_SIGNING_KEY` or the store's shared secret."""
    return Blobs(
        store=open_blob_store(
            settings.blob_url,
            settings.data_dir,
            settings.s3_endpoint_url,
            vercel_token=settings.blob_read_write_token,
            vercel_api_url=settings.vercel_blob_api_url,
        ),
        secret=await signing_secret(settings.blob_signing_key, store),
        link_seconds=settings.blob_link_seconds,
        public_base_url=settings.public_base_url,
        state=store,
    )
