"""The AWS schedule's way into the video worker: an EventBridge event (`{"qwen_task": "videos"}`, or any
`aws.events` event) becomes a request to the cron route inside the same process, through the same Mangum
handler (so the runtime's clients stay on its event loop). It carries a token made at import, which only
this process knows, instead of `CRON_SECRET`."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

INTERNAL_HEADER = "x-qwen-internal-schedule"
INTERNAL_TOKEN = secrets.token_urlsafe(32)
CRON_PATH = "/internal/cron/videos"

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def is_schedule(event: dict[str, Any]) -> bool:
    return event.get("qwen_task") == "videos" or event.get("source") == "aws.events"


def cron_event() -> dict[str, Any]:
    """An HTTP API (payload 2.0) event for the cron route, with the in-process token."""
    return {
        "version": "2.0",
        "routeKey": f"POST {CRON_PATH}",
        "rawPath": CRON_PATH,
        "rawQueryString": "",
        "headers": {INTERNAL_HEADER: INTERNAL_TOKEN, "host": "localhost"},
        "requestContext": {
            "http": {"method": "POST", "path": CRON_PATH, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "routeKey": f"POST {CRON_PATH}",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }


def with_schedule(handler: LambdaHandler) -> LambdaHandler:
    """`handler`, with scheduled events turned into one video worker pass."""

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if is_schedule(event):
            return handler(cron_event(), context)
        return handler(event, context)

    return handle
