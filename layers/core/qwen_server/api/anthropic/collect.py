"""The non-streaming Message body: the same Anthropic stream events, folded (no second code path).

Folding works like a client does: `message_start` gives the envelope, blocks are appended and their deltas
concatenated, a tool call's `partial_json` pieces are parsed into `input` at its `content_block_stop`,
and `message_delta` sets the stop reason and the final usage.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

import orjson

from qwen_server.api.anthropic.events import MessageEvents, StreamEvent
from qwen_server.core.json_repair import repair_json
from qwen_server.core.model import Event

log = logging.getLogger("qwen_server")


def tool_input(raw: str) -> dict[str, Any]:
    """A tool call's arguments as the object Anthropic's `input` must be."""
    if not raw.strip():
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        repaired = repair_json(raw)
        value = orjson.loads(repaired) if repaired is not None else None
    if isinstance(value, dict):
        return value
    log.warning("tool call arguments are not a JSON object; returning an empty input: %.200s", raw)
    return {}


class MessageFolder:
    def __init__(self) -> None:
        self.message: dict[str, Any] = {}
        self._json: dict[int, list[str]] = {}

    def fold(self, event: StreamEvent) -> None:
        kind = event["type"]
        if kind == "message_start":
            self.message = dict(event["message"])
            self.message["content"] = []
        elif kind == "content_block_start":
            self.message["content"].append(dict(event["content_block"]))
        elif kind == "content_block_delta":
            self._delta(event["index"], event["delta"])
        elif kind == "content_block_stop":
            block = self.message["content"][event["index"]]
            if block["type"] in ("tool_use", "server_tool_use"):
                block["input"] = tool_input("".join(self._json.pop(event["index"], [])))
        elif kind == "message_delta":
            self.message.update(event["delta"])
            self.message["usage"] = {**self.message["usage"], **event["usage"]}

    def _delta(self, index: int, delta: dict[str, Any]) -> None:
        block = self.message["content"][index]
        kind = delta["type"]
        if kind == "text_delta":
            block["text"] += delta["text"]
        elif kind == "thinking_delta":
            block["thinking"] += delta["thinking"]
        elif kind == "signature_delta":
            block["signature"] = delta["signature"]
        elif kind == "citations_delta":
            block.setdefault("citations", []).append(delta["citation"])
        elif kind == "input_json_delta":
            self._json.setdefault(index, []).append(delta["partial_json"])


def fold(events: Iterable[StreamEvent]) -> dict[str, Any]:
    folder = MessageFolder()
    for event in events:
        folder.fold(event)
    return folder.message


async def collect(events: AsyncIterator[Event], translator: MessageEvents) -> dict[str, Any]:
    """The Message body for a whole answer."""
    folder = MessageFolder()
    folder.fold(translator.start())
    async for event in events:
        for out in translator.feed(event):
            folder.fold(out)
    return folder.message
