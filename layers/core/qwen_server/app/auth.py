"""Gateway keys: who is calling (the tenant) and whether they may."""

from __future__ import annotations

import hashlib
import hmac

from starlette.requests import Request

from qwen_server.core.errors import AuthenticationFailed, PermissionDenied


def presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.headers.get("x-api-key") or request.headers.get("api-key")


def _raw(key: str) -> bytes:
    """The key as the bytes the client sent: headers arrive decoded as latin-1, so any byte value is possible,
    and `hmac.compare_digest` refuses non-ASCII `str` (a TypeError, once a 500)."""
    try:
        return key.encode("latin-1")
    except UnicodeEncodeError:
        return key.encode("utf-8")


def tenant_for(request: Request, allowed: frozenset[str]) -> str:
    """The tenant id (a hash of the key); raises when keys are configured and none of them was sent."""
    key = presented_key(request)
    if allowed:
        if key is None or not any(hmac.compare_digest(_raw(key), k.encode("utf-8")) for k in allowed):
            raise AuthenticationFailed(
                "Invalid or missing API key: send one of GATEWAY_API_KEYS as `Authorization: Bearer <key>` "
                "or `x-api-key`"
            )
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:12] if key else "anonymous"


def require_admin(request: Request, allowed: frozenset[str]) -> None:
    """Admin routes fail closed: without ADMIN_API_KEYS configured nobody may use them."""
    if not allowed:
        raise PermissionDenied(
            "admin routes are disabled: set ADMIN_API_KEYS (comma-separated keys, separate from "
            "GATEWAY_API_KEYS) to use them",
            code="admin_disabled",
        )
    key = presented_key(request)
    if key is None:
        raise AuthenticationFailed(
            "this admin route needs one of ADMIN_API_KEYS as `Authorization: Bearer <key>` or `x-api-key`"
        )
    sent = key.encode("utf-8", "surrogateescape")
    if not any(hmac.compare_digest(sent, k.encode()) for k in allowed):
        raise PermissionDenied("the key sent is not one of ADMIN_API_KEYS", code="admin_key_required")


def session_id(request: Request, body_user: str | None = None) -> str | None:
    return request.headers.get("x-session-id") or request.headers.get("x-claude-code-session-id") or body_user
