"""The current request's access-log fields, reachable from code that never sees the HTTP request.

`RequestContextMiddleware` binds the request's field dict here; the gateway adds the account that answered.
A dict (not a value) is bound, so tasks started for the request (a streaming body) write into the same line.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

import orjson

_fields: ContextVar[dict[str, Any] | None] = ContextVar("qwen_request_log", default=None)


def bind(fields: dict[str, Any]) -> None:
    _fields.set(fields)


def note(**values: Any) -> None:
    """Add fields to the current request's access-log line (nothing outside a request)."""
    fields = _fields.get()
    if fields is not None:
        fields.update(values)


def lambda_request_id(scope: Mapping[str, Any]) -> str | None:
    """The Lambda invocation's request id: Mangum passes the context in the scope, the Web Adapter forwards
    it as the `x-amzn-lambda-context` header (JSON)."""
    context = scope.get("aws.context")
    found = getattr(context, "aws_request_id", None)
    if isinstance(found, str):
        return found
    for name, value in scope.get("headers") or ():
        if name == b"x-amzn-lambda-context":
            try:
                parsed = orjson.loads(value)
            except orjson.JSONDecodeError:
                return None
            request_id = parsed.get("request_id") if isinstance(parsed, dict) else None
            return request_id if isinstance(request_id, str) else None
    return None
