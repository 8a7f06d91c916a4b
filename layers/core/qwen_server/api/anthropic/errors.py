"""Anthropic's error body: `{"type": "error", "error": {"type", "message"}}`, with Anthropic's statuses."""

from __future__ import annotations

from typing import Any

from qwen_server.core.errors import GatewayError, Overloaded

ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def anthropic_status(error: GatewayError) -> int:
    """The gateway's own overload is Anthropic's 529; everything else keeps its status."""
    return 529 if isinstance(error, Overloaded) else error.status


def anthropic_error_body(error: GatewayError) -> dict[str, Any]:
    status = anthropic_status(error)
    kind = ANTHROPIC_TYPES.get(status, "api_error")
    if status == 504:
        kind = "timeout_error"
    return {"type": "error", "error": {"type": kind, "message": error.message}}
