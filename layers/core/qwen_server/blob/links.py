"""Unguessable, expiring links to blobs: what `url` answers point at, usable in `<img src>` with no key header.

A link token is `<id>.<signature>`: the id is random and opaque, so a public link tells nothing about the
blob's key (which names its tenant, a hash of a gateway key: a link in a web page must not let anyone guess
the key offline). The id names a record in the shared store (`blob:link:<id>`, kept until the link expires)
holding the blob key, the content type to serve it with and an optional download filename. The signature,
HMAC-SHA256 over the id, refuses a forged or mistyped token without a store read. The secret is
`BLOB_SIGNING_KEY`, or else one random secret kept in the shared store, so every instance of a deployment
signs and checks alike and links survive restarts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import orjson

from qwen_server.store.base import Store

SECRET_KEY = "blob:signing-secret"
LINK_PREFIX = "blob:link:"


class BadLink(Exception):
    """The token is malformed, forged or expired."""


@dataclass(frozen=True, slots=True)
class LinkTarget:
    key: str
    content_type: str
    filename: str | None
    expires_at: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signature(secret: bytes, link_id: str) -> str:
    return _b64(hmac.new(secret, link_id.encode(), hashlib.sha256).digest())


def new_token(secret: bytes) -> tuple[str, str]:
    """(link id, token) of a fresh link."""
    link_id = secrets.token_urlsafe(18)
    return link_id, f"{link_id}.{_signature(secret, link_id)}"


def link_id(secret: bytes, token: str) -> str:
    """The id a genuine token carries; anything else (forged, altered, not even ASCII) is a `BadLink`."""
    if not token.isascii():
        raise BadLink("the link is not valid")
    found, _, signature = token.partition(".")
    if not found or not signature or not hmac.compare_digest(signature, _signature(secret, found)):
        raise BadLink("the link is not valid")
    return found


async def save_link(store: Store, found: str, target: LinkTarget, now: float | None = None) -> None:
    record = {"k": target.key, "t": target.content_type, "f": target.filename, "x": target.expires_at}
    ttl = max(1.0, target.expires_at - (time.time() if now is None else now))
    await store.set(LINK_PREFIX + found, orjson.dumps(record), ttl=ttl)


async def load_link(store: Store, found: str, now: float | None = None) -> LinkTarget:
    raw = await store.get(LINK_PREFIX + found)
    if raw is None:
        raise BadLink("the link has expired or was never made")
    fields = orjson.loads(raw)
    target = LinkTarget(str(fields["k"]), str(fields["t"]), fields.get("f"), int(fields["x"]))
    if target.expires_at < (time.time() if now is None else now):
        raise BadLink("the link has expired")
    return target


async def signing_secret(configured: str | None, store: Store) -> bytes:
    """`BLOB_SIGNING_KEY` when set, else the deployment's stored secret (created once, by whoever comes first)."""
    if configured:
        return configured.encode()
    fresh = secrets.token_bytes(32)
    await store.set_if_absent(SECRET_KEY, fresh)
    stored = await store.get(SECRET_KEY)
    return stored if stored else fresh
