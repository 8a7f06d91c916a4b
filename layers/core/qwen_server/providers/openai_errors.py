"""How an OpenAI-compatible upstream's errors map into the product's error tree: HTTP error answers and
error objects inside a 200 answer (a stream chunk or a JSON body).

The mapping is data: an error object's `code` / `type` is matched against `ERROR_CODES`. A 401/403 is
`UpstreamForbidden`, not an auth failure: the key may be fine and only this model refused (DashScope's
`AccessDenied.Unpurchased`); the pool's credential check settles which.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from qwen_server.core.errors import (
    GatewayError,
    UpstreamBadRequest,
    UpstreamError,
    UpstreamForbidden,
    UpstreamModelNotFound,
    UpstreamRateLimited,
    UpstreamUnknownError,
)
from qwen_server.core.numbers import whole_number

# An error object's `code` / `type` (lower-cased) -> the product's error, first match wins. A code that matches
# nothing is `UpstreamUnknownError`: not retried, not held against the account.
ERROR_CODES: tuple[tuple[tuple[str, ...], type[GatewayError]], ...] = (
    (("rate_limit", "ratelimit", "throttl", "too_many", "quota"), UpstreamRateLimited),
    (
        ("accessdenied", "access_denied", "unauthorized", "invalid_api_key", "permission", "forbidden"),
        UpstreamForbidden,
    ),
    (("server_error", "internal", "overloaded", "unavailable", "timeout", "upstream_error"), UpstreamError),
    (
        ("invalid_request", "invalid_parameter", "content_filter", "data_inspection", "context_length"),
        UpstreamBadRequest,
    ),
)


def _error_fields(raw: bytes) -> tuple[str, str]:
    """(code and type, message) of an error body: OpenAI's `{"error": {...}}` or DashScope's flat object."""
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "", ""
    if not isinstance(payload, dict):
        return "", ""
    err = payload.get("error", payload)
    if not isinstance(err, dict):
        return "", str(err or "")[:300]
    code = " ".join(str(err.get(k) or "") for k in ("code", "type")).strip()
    return code, str(err.get("message") or "")[:300]


def classify_error_object(err: Any) -> GatewayError:
    """An error object inside a 200 answer (a stream chunk or a JSON body), by its code and type."""
    fields = err if isinstance(err, dict) else {"message": err}
    code = " ".join(str(fields.get(k) or "") for k in ("code", "type")).strip()
    shown = "upstream error" + (f" {code}" if code else "") + f": {str(fields.get('message'))[:300]}"
    lowered = code.lower()
    for needles, error in ERROR_CODES:
        if any(n in lowered for n in needles):
            return error(shown)
    return UpstreamUnknownError(shown)


def classify(status: int, raw: bytes, headers: Mapping[str, str]) -> GatewayError:
    """An HTTP error answer. A 401/403 is `UpstreamForbidden`: the key may be fine and only this model
    refused (DashScope's `AccessDenied.Unpurchased`); `verify` settles which."""
    code, message = _error_fields(raw)
    detail = ": ".join(part for part in (code, message) if part)
    shown = f"upstream HTTP {status}" + (f": {detail}" if detail else "")
    retry_after = headers.get("retry-after")
    if status == 429:
        return UpstreamRateLimited(
            shown, retry_after=whole_number(retry_after)
        )
    if status in (401, 403):
        return UpstreamForbidden(shown)
    if status == 404 and "model" in message.lower():
        return UpstreamModelNotFound(shown)
    if status >= 500:
        return UpstreamError(shown)
    return UpstreamBadRequest(shown, status=status if status in (400, 413, 422) else None)
