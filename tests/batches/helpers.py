"""Shared steps of the batch tests: JSONL inputs, and waiting (bounded) for a batch to reach a state."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

import anthropic
import httpx
import openai

T = TypeVar("T")


def jsonl(lines: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def chat_line(custom_id: str, text: str, **body: Any) -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "qwen3-max", "messages": [{"role": "user", "content": text}], **body},
    }


# a poll that could not be made (a kept-alive connection the busy server closed meanwhile) is just tried again:
# what the batch tests judge is the state the batch reaches, which the deadline bounds
POLL_ERRORS = (openai.APIConnectionError, anthropic.APIConnectionError, httpx.TransportError)


def wait_for(fetch: Callable[[], T], done: Callable[[T], bool], seconds: float = 120.0) -> T:
    """Poll `fetch` until `done` holds; fails (with the last value) if it never does within `seconds`."""
    deadline = time.monotonic() + seconds
    last: object = None
    while True:
        try:
            value = fetch()
        except POLL_ERRORS as exc:
            last = exc
        else:
            if done(value):
                return value
            last = value
        if time.monotonic() > deadline:
            raise AssertionError(f"never reached the expected state; last seen: {last!r}")
        time.sleep(0.2)
