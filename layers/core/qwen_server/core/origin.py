"""The origin clients reach the gateway at, for the links it writes (image `url`s, Anthropic `results_url`).

`PUBLIC_BASE_URL` when it is set. Otherwise the request's own origin plus the prefix the front door took off
the path before the app saw it: API Gateway's REST API hands a function the path without its stage
(`/v1/blobs/...`, not `/prod/v1/blobs/...`) and keeps the path the client used only in the event's
`requestContext.path`. A link built without that prefix points outside the stage, where API Gateway answers
403. Mangum passes the event to the app as `scope["aws.event"]`; the Lambda Web Adapter forwards the request
context as the `x-amzn-request-context` header.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

CONTEXT_HEADER = b"x-amzn-request-context"


def _request_context(scope: Mapping[str, Any]) -> Mapping[str, Any] | None:
    event = scope.get("aws.event")
    if isinstance(event, Mapping):
        context = event.get("requestContext")
        return context if isinstance(context, Mapping) else None
    for name, value in scope.get("headers") or ():
        if name == CONTEXT_HEADER:
            try:
                context = orjson.loads(value)
            except orjson.JSONDecodeError:
                return None
            return context if isinstance(context, Mapping) else None
    return None


def path_prefix(scope: Mapping[str, Any]) -> str:
    """What the client's path had in front of the one the app sees (`/prod` behind a REST API stage, a base
    path mapping's prefix behind a custom domain, "" everywhere else)."""
    context = _request_context(scope)
    if context is None:
        return ""
    public = context.get("path")  # REST API (payload 1.0) only; HTTP API paths already carry their stage
    seen = scope.get("path") or "/"
    if not isinstance(public, str) or public == seen or not public.endswith(seen):
        return ""
    prefix = public[: len(public) - len(seen)].rstrip("/")
    return prefix if prefix.startswith("/") else ""


def public_base(scope: Mapping[str, Any], request_base_url: str, configured: str | None) -> str:
    """The base URL (no trailing slash) links are built on."""
    if configured:
        return configured.rstrip("/")
    return request_base_url.rstrip("/") + path_prefix(scope)
