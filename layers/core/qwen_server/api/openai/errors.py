"""OpenAI's error body: `{"error": {"message", "type", "param", "code"}}`."""

from __future__ import annotations

from typing import Any

from qwen_server.core.errors import GatewayError

OPENAI_TYPES = {
    "overloaded_error": "rate_limit_error",
    "not_found_error": "invalid_request_error",
    "upstream_error": "upstream_error",
}


def openai_error_body(error: GatewayError) -> dict[str, Any]:
    return {
        "error": {
            "message": error.message,
            "type": OPENAI_TYPES.get(error.type, error.type),
            "param": error.param,
            "code": error.code,
        }
    }
