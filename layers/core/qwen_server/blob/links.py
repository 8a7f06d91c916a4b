"""Unguessable, expiring links to blobs: what `url` answers point at, usable in `<img src>` with no key header.

A link token is `<payload>.<signature>`: the payload (base64url JSON) names the blob key, the content type to
serve it with, an optional download filename and the expiry; the signature is HMAC-SHA256 over the payload.
The secret is `BLOB_SIGNING_KEY`, or else one random secret kept in the shared store, so every instance of a
deployment signs and checks alike and links survive restarts.
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


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_token(secret: bytes, target: LinkTarget) -> str:
    payload = _b64(
        orjson.dumps(
            {"k": target.key, "t": target.content_type, "f": target.filename, "x": target.expires_at}
        )
    )
    signature = _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{signature}"


def read_token(secret: bytes, token: str, now: float | None = None) -> LinkTarget:
    payload, _, signature = token.partition(".")
    expected = _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())
    if not signature or not hmac.compare_digest(signature, expected):
        raise BadLink("the link is not valid")
    try:
        fields = orjson.loads(_unb64(payload))
        target = LinkTarget(str(fields["k"]), str(fields["t"]), fields.get("f"), int(fields["x"]))
    except (ValueError, KeyError, TypeError):
        raise BadLink("the link is not valid") from None
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
