"""The wire shapes of chat.qwen.ai: SSE events, JSON error bodies, the WAF page. Bytes out, no I/O."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

VERSION_HEADER = "version"
REQUIRED_VERSION = "0.2.0"
IN_PROGRESS = "The chat is in progress!"
TOO_LONG = "Invalid input: the message is too long"
NOT_AUTHENTICATED = "Not authenticated"
TOKEN_EXPIRED = "Token expired"
BAD_CREDENTIALS = (
    "The email or password provided is incorrect. Please check for typos and try logging in again."
)
# The web app's refusal of a client it considers old (reported 2026-07-24), and an English form of it.
OUTDATED = {
    "zh": "你正在使用较早版本，为了获得更好的对话体验，请升级至最新版。",  # noqa: RUF001 (the upstream's own punctuation)
    "en": "You are using an older version. Please upgrade to the latest version for a better chat experience.",
}

SSE_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


def sse(obj: Any) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def usage(input_tokens: int, output_tokens: int) -> dict[str, int]:
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
    }


def created_event(chat_id: str, parent_id: str, response_id: str) -> bytes:
    return sse({"response.created": {"chat_id": chat_id, "parent_id": parent_id, "response_id": response_id}})


def delta_event(
    content: str, phase: str, status: str, response_id: str, usage_body: dict[str, int] | None
) -> bytes:
    """One `choices[0].delta`; `status` is "typing" for text and "finished" for a phase's end."""
    event: dict[str, Any] = {
        "choices": [{"delta": {"role": "assistant", "content": content, "phase": phase, "status": status}}]
    }
    if usage_body is not None:
        event["usage"] = usage_body
    event["response_id"] = response_id
    return sse(event)


def stream_error_event(code: str, details: str) -> bytes:
    return sse({"error": {"code": code, "details": details}})


def failure(code: str, details: str) -> dict[str, Any]:
    """The `{"success": false, "data": {...}}` body (HTTP 200 or 4xx/5xx, JSON or one SSE line)."""
    return {"success": False, "request_id": str(uuid.uuid4()), "data": {"code": code, "details": details}}


def missing_version() -> dict[str, Any]:
    """What a completion without the `version: 0.2.0` header gets, with HTTP 200."""
    return {
        "success": False,
        "request_id": str(uuid.uuid4()),
        "code": "Bad_Request",
        "details": f"Invalid request: the {VERSION_HEADER!r} header is missing or unsupported",
    }


def collected(
    chat_id: str, parent_id: str, response_id: str, answer: str, think: str, usage_body: dict[str, int] | None
) -> dict[str, Any]:
    """The `stream: false` answer: the stream collected into one message (shaped like the t2v answer)."""
    message: dict[str, Any] = {"role": "assistant", "content": answer, "done": True, "extra": {}}
    if think:
        message["reasoning_content"] = think
    data: dict[str, Any] = {
        "chat_id": chat_id,
        "parent_id": parent_id,
        "message_id": response_id,
        "messages": [message],
    }
    if usage_body is not None:
        data["usage"] = usage_body
    return {"success": True, "request_id": str(uuid.uuid4()), "data": data}


# What a broken edge proxy might send as an event stream: framing, but nothing the web app could parse.
GARBAGE_SSE = (
    b"data: <html>upstream connect error</html>\n\ndata: {not json\n\n: comment\n\ndata: \x00\x01\n\n"
)

WAF_HTML = b"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Access verification</title>
<script>var _waf_ = {"type": "aliyun_waf", "code": "RGV587_ERROR::SM"};</script>
<script src="https://g.alicdn.com/AWSC/AWSC/awsc.js"></script></head>
<body><div id="aliyun_waf_aa">Please slide to verify that you are human (aliyun_waf).</div>
<!-- emulated Alibaba Cloud WAF challenge --></body></html>
"""
