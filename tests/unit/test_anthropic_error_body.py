"""Gateway errors in Anthropic's shape and statuses (the gateway's own overload is a 529)."""

from __future__ import annotations

import pytest

from qwen_server.api.anthropic.errors import anthropic_error_body, anthropic_status
from qwen_server.core.errors import (
    AuthenticationFailed,
    GatewayError,
    InvalidRequest,
    NoAccounts,
    NotFound,
    Overloaded,
    PayloadTooLarge,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
)


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (InvalidRequest("bad"), 400, "invalid_request_error"),
        (AuthenticationFailed("who"), 401, "authentication_error"),
        (NotFound("what"), 404, "not_found_error"),
        (InvalidRequest("wrong method", status=405), 405, "invalid_request_error"),
        (PayloadTooLarge("big"), 413, "request_too_large"),
        (UpstreamRateLimited("slow down"), 429, "rate_limit_error"),
        (Overloaded("queue full", retry_after=1), 529, "overloaded_error"),
        (UpstreamError("upstream broke"), 502, "api_error"),
        (NoAccounts("none"), 503, "api_error"),
        (UpstreamTimeout("late"), 504, "timeout_error"),
        (GatewayError("oops"), 500, "api_error"),
    ],
)
def test_status_and_type(error: GatewayError, status: int, kind: str) -> None:
    assert anthropic_status(error) == status
    assert anthropic_error_body(error) == {"type": "error", "error": {"type": kind, "message": error.message}}
