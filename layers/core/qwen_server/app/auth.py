"""Gateway keys: who is calling (the tenant) and whether they may."""

from __future__ import annotations

import hmac

from starlette.requests import Request

from qwen_server.core.errors import AuthenticationFailed, PermissionDenied
from qwen_server.core.tenants import KEYLESS_TENANT, tenant_id


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
    """The tenant id (a hash of the key; `KEYLESS_TENANT` without GATEWAY_API_KEYS, whatever key is sent: a
    made-up key is not an identity); raises when keys are configured and none of them was sent, and when
    none are configured on a deployed gateway (fail closed) unless ALLOW_ANONYMOUS is set."""
    key = presented_key(request)
    if allowed:
        if key is None or not any(hmac.compare_digest(_raw(key), k.encode("utf-8")) for k in allowed):
            raise AuthenticationFailed(
                "Invalid or missing API key: send one of GATEWAY_API_KEYS as `Authorization: Bearer <key>` "
                "or `x-api-key`"
            )
        tenant = tenant_id(key)
    else:
        _refuse_anonymous_when_deployed(request)
        tenant = KEYLESS_TENANT
    fields = request.scope.get("state", {}).get("log")
    if isinstance(fields, dict):
        fields["tenant"] = tenant  # the access log's line for this request
    return tenant


def _refuse_anonymous_when_deployed(request: Request) -> None:
    from qwen_server.app.exposure import exposure
    from qwen_server.app.runtime import settings_of

    why = exposure(request.scope)
    if why is not None and not settings_of(request).allow_anonymous:
        raise AuthenticationFailed(
            f"This gateway refuses requests: {why} and GATEWAY_API_KEYS is not set. Set GATEWAY_API_KEYS "
            "(comma-separated keys clients send), or ALLOW_ANONYMOUS=true to serve anyone.",
            code="gateway_keys_required",
        )


def require_operator(request: Request) -> bool:
    """Operator views (/v1/metrics, /metrics): an admin key once ADMIN_API_KEYS is set; with client keys but no
    admin keys nobody may read them (a client key is not an operator's); a keyless gateway follows the API's
    rule (fail closed when deployed). True when the caller is an operator, who may see account names: an
    admin, or anyone on a keyless gateway nobody else can reach."""
    from qwen_server.app.exposure import exposure
    from qwen_server.app.runtime import settings_of

    settings = settings_of(request)
    if settings.admin_keys():
        require_admin(request, settings.admin_keys())
        return True
    if settings.gateway_keys():
        raise PermissionDenied(
            "the operator views need an admin key, and a gateway key is not one: set ADMIN_API_KEYS "
            "(comma-separated keys, separate from GATEWAY_API_KEYS) to read them",
            code="admin_key_required",
        )
    tenant_for(request, frozenset())
    return exposure(request.scope) is None


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
