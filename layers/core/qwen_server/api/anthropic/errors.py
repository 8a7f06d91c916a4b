"""Anthropic's error body: `{"type": "error", "error": {"type", "message"}}`, with Anthropic's statuses.

The same object is the payload of an in-stream `error` event. The gateway's own overload (queue full,
wait timed out) is Anthropic's 529 `overloaded_error`; its `retry-after` header comes from the error.
"""

from __future__ import annotations

from typing import Any

from qwen_server.core.errors import GatewayError, Overloaded

ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def anthropic_status(error: GatewayError) -> int:
    """The gateway's own overload is Anthropic's 529; everything else keeps its status."""
    return 529 if isinstance(error, Overloaded) else error.status


def anthropic_error_type(status: int) -> str:
    """Anthropic's type for a status: other 4xx are request errors, other 5xx `api_error`."""
    known = ANTHROPIC_TYPES.get(status)
    if known is not None:
        return known
    return "invalid_request_error" if 400 <= status < 500 else "api_error"


def anthropic_error_body(error: GatewayError) -> dict[str, Any]:
    kind = anthropic_error_type(anthropic_status(error))
    return {"type": "error", "error": {"type": kind, "message": error.message}}
