"""The current request's access-log fields, reachable from code that never sees the HTTP request.

`RequestContextMiddleware` binds the request's field dict here; the gateway adds the account that answered.
A dict (not a value) is bound, so tasks started for the request (a streaming body) write into the same line.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

_fields: ContextVar[dict[str, Any] | None] = ContextVar("qwen_request_log", default=None)


def bind(fields: dict[str, Any]) -> None:
    _fields.set(fields)


def note(**values: Any) -> None:
    """Add fields to the current request's access-log line (nothing outside a request)."""
    fields = _fields.get()
    if fields is not None:
        fields.update(values)
