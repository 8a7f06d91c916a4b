"""A checker for Anthropic message streams as they arrive on the wire, for every test that makes one.

It reads raw SSE text itself (not through the product's parser nor the SDK) and asserts the documented
grammar plus the rules Claude Code depends on:

    message_start  ping  ( content_block_start  content_block_delta*  content_block_stop )*
    message_delta  message_stop            -- pings allowed anywhere after message_start
    ... or, after any prefix of that, one final `error` event.

- every `event:` name equals its data's `type`;
- block indices are 0, 1, 2, ... in order; one block open at a time; each opened block stopped once
  (a doubled or stray `content_block_stop` fails);
- deltas match their block (`text_delta` → text, `thinking_delta` / `signature_delta` → thinking,
  `input_json_delta` → tool_use); a thinking block's signature comes last, before its stop;
- no text block is empty; a tool_use block's `partial_json` pieces join to a JSON object;
- exactly one `message_delta` after the last block; `stop_reason` is `tool_use` if and only if a tool_use
  block was sent; `stop_sequence` is set if and only if `stop_reason` is `stop_sequence`;
  `usage.output_tokens` is a non-negative integer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

STOP_REASONS = {"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"}
DELTAS = {
    "text": {"text_delta", "citations_delta"},
    "thinking": {"thinking_delta", "signature_delta"},
    "tool_use": {"input_json_delta"},
    "server_tool_use": {"input_json_delta"},
    "web_search_tool_result": set(),
}


class GrammarError(AssertionError):
    pass


@dataclass
class CheckedStream:
    """What a valid stream said, for the test's own assertions."""

    message: dict[str, Any] = field(default_factory=dict)
    blocks: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str | None = None
    stop_sequence: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    pings: int = 0
    pings_before_first_block: int = 0
    error: dict[str, Any] | None = None
    names: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(b["text"] for b in self.blocks if b["type"] == "text")

    @property
    def thinking(self) -> str:
        return "".join(b["thinking"] for b in self.blocks if b["type"] == "thinking")

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [b for b in self.blocks if b["type"] == kind]


def parse_sse(raw: str | bytes) -> list[tuple[str | None, Any]]:
    """(event name, decoded data) per SSE event; comments ignored, `data:` lines joined."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    events: list[tuple[str | None, Any]] = []
    name: str | None = None
    data: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line:
            if data or name is not None:
                events.append((name, json.loads("\n".join(data)) if data else None))
            name, data = None, []
            continue
        if line.startswith(":"):
            continue
        key, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if key == "event":
            name = value
        elif key == "data":
            data.append(value)
    if data or name is not None:
        events.append((name, json.loads("\n".join(data)) if data else None))
    return events


def _fail(position: int, name: str | None, why: str) -> GrammarError:
    return GrammarError(f"event #{position} ({name}): {why}")


class _Checker:
    def __init__(self) -> None:
        self.out = CheckedStream()
        self.open: dict[str, Any] | None = None
        self.json: list[str] = []
        self.signed = False
        self.phase = "start"  # start → ping → blocks → delta → stopped

    def event(self, i: int, name: str | None, data: Any) -> None:
        if name is None or not isinstance(data, dict) or data.get("type") != name:
            raise _fail(i, name, f"data type {data!r:.80} does not match the event name")
        self.out.names.append(name)
        if self.phase == "stopped":
            raise _fail(i, name, "event after message_stop")
        if self.out.error is not None:
            raise _fail(i, name, "event after an error event")
        if name == "error":
            self._error(i, data)
        elif self.phase == "start":
            self._message_start(i, name, data)
        elif self.phase == "ping":
            if name != "ping":
                raise _fail(i, name, "the event right after message_start must be a ping")
            self.out.pings += 1
            self.out.pings_before_first_block += 1
            self.phase = "blocks"
        elif name == "ping":
            self.out.pings += 1
            if not self.out.blocks:
                self.out.pings_before_first_block += 1
        elif name == "content_block_start":
            self._start(i, data)
        elif name == "content_block_delta":
            self._delta(i, data)
        elif name == "content_block_stop":
            self._stop(i, data)
        elif name == "message_delta":
            self._message_delta(i, data)
        elif name == "message_stop":
            if self.phase != "delta":
                raise _fail(i, name, "message_stop without a message_delta before it")
            self.phase = "stopped"
        else:
            raise _fail(i, name, "unknown event")

    def _error(self, i: int, data: dict[str, Any]) -> None:
        error = data.get("error")
        if not (isinstance(error, dict) and isinstance(error.get("type"), str) and error.get("message")):
            raise _fail(i, "error", f"malformed error object {data!r}")
        self.out.error = error

    def _message_start(self, i: int, name: str, data: dict[str, Any]) -> None:
        if name != "message_start":
            raise _fail(i, name, "the stream must open with message_start")
        message = data.get("message") or {}
        if message.get("type") != "message" or message.get("role") != "assistant":
            raise _fail(i, name, f"not an assistant message: {message!r}")
        if message.get("content") != [] or not str(message.get("id", "")).startswith("msg_"):
            raise _fail(i, name, "message_start needs empty content and a msg_ id")
        usage = message.get("usage") or {}
        if not isinstance(usage.get("input_tokens"), int) or not isinstance(usage.get("output_tokens"), int):
            raise _fail(i, name, f"message_start usage is incomplete: {usage!r}")
        self.out.message = message
        self.phase = "ping"

    def _start(self, i: int, data: dict[str, Any]) -> None:
        if self.phase != "blocks":
            raise _fail(i, "content_block_start", "block after message_delta")
        if self.open is not None:
            raise _fail(i, "content_block_start", "a block opened while another is open")
        if data.get("index") != len(self.out.blocks):
            raise _fail(i, "content_block_start", f"index {data.get('index')} != {len(self.out.blocks)}")
        block = dict(data.get("content_block") or {})
        kind = block.get("type")
        if kind not in DELTAS:
            raise _fail(i, "content_block_start", f"unexpected block type {kind!r}")
        if kind == "text" and block.get("text") != "":
            raise _fail(i, "content_block_start", "a text block must start empty")
        if kind == "thinking" and (block.get("thinking") != "" or "signature" not in block):
            raise _fail(i, "content_block_start", "a thinking block starts empty, with a signature field")
        if kind in ("tool_use", "server_tool_use"):
            if not block.get("id") or not block.get("name") or block.get("input") != {}:
                raise _fail(i, "content_block_start", f"{kind} needs id, name and input {{}}: {block!r}")
        if kind == "server_tool_use" and not str(block["id"]).startswith("srvtoolu_"):
            raise _fail(i, "content_block_start", "a server_tool_use id starts with srvtoolu_")
        if kind == "web_search_tool_result":
            calls = [b["id"] for b in self.out.blocks if b["type"] == "server_tool_use"]
            if not calls or block.get("tool_use_id") != calls[-1]:
                raise _fail(
                    i, "content_block_start", "a web_search_tool_result answers the server_tool_use before it"
                )
        self.out.blocks.append(block)
        self.open, self.json, self.signed = block, [], False

    def _delta(self, i: int, data: dict[str, Any]) -> None:
        block = self.open
        if block is None or data.get("index") != len(self.out.blocks) - 1:
            raise _fail(i, "content_block_delta", f"delta for index {data.get('index')}, not the open block")
        delta = data.get("delta") or {}
        kind = delta.get("type")
        if kind not in DELTAS[block["type"]]:
            raise _fail(i, "content_block_delta", f"{kind!r} inside a {block['type']} block")
        if self.signed:
            raise _fail(i, "content_block_delta", "delta after the thinking block's signature")
        if kind == "text_delta":
            block["text"] += delta["text"]
        elif kind == "thinking_delta":
            block["thinking"] += delta["thinking"]
        elif kind == "citations_delta":
            citation = delta.get("citation") or {}
            if citation.get("type") != "web_search_result_location" or not citation.get("url"):
                raise _fail(i, "content_block_delta", f"malformed citation {citation!r}")
            if not block["text"]:
                raise _fail(i, "content_block_delta", "a citation before any text of its block")
            block.setdefault("citations", []).append(citation)
        elif kind == "signature_delta":
            if not delta.get("signature"):
                raise _fail(i, "content_block_delta", "empty signature")
            block["signature"], self.signed = delta["signature"], True
        else:
            self.json.append(delta["partial_json"])

    def _stop(self, i: int, data: dict[str, Any]) -> None:
        block = self.open
        if block is None:
            raise _fail(i, "content_block_stop", "stop with no open block (doubled content_block_stop?)")
        if data.get("index") != len(self.out.blocks) - 1:
            raise _fail(i, "content_block_stop", f"stop for index {data.get('index')}, not the open block")
        if block["type"] == "text" and not block["text"]:
            raise _fail(i, "content_block_stop", "empty text block")
        if block["type"] == "thinking" and not self.signed:
            raise _fail(i, "content_block_stop", "thinking block closed without a signature_delta")
        if block["type"] in ("tool_use", "server_tool_use"):
            raw = "".join(self.json)
            value = json.loads(raw) if raw else {}
            if not isinstance(value, dict):
                raise _fail(i, "content_block_stop", f"tool input is not an object: {raw!r}")
            block["input"] = value
        self.open = None

    def _message_delta(self, i: int, data: dict[str, Any]) -> None:
        if self.phase != "blocks":
            raise _fail(i, "message_delta", "a second message_delta")
        if self.open is not None:
            raise _fail(i, "message_delta", "message_delta while a block is open")
        delta = data.get("delta") or {}
        reason, sequence = delta.get("stop_reason"), delta.get("stop_sequence")
        if reason not in STOP_REASONS:
            raise _fail(i, "message_delta", f"unknown stop_reason {reason!r}")
        has_tool = any(b["type"] == "tool_use" for b in self.out.blocks)
        if (reason == "tool_use") != has_tool:
            raise _fail(i, "message_delta", f"stop_reason {reason!r} with tool_use blocks: {has_tool}")
        if (reason == "stop_sequence") != (sequence is not None):
            raise _fail(i, "message_delta", f"stop_sequence {sequence!r} with stop_reason {reason!r}")
        usage = data.get("usage") or {}
        if not isinstance(usage.get("output_tokens"), int) or usage["output_tokens"] < 0:
            raise _fail(i, "message_delta", f"bad usage {usage!r}")
        self.out.stop_reason, self.out.stop_sequence, self.out.usage = reason, sequence, usage
        self.phase = "delta"

    def finish(self) -> CheckedStream:
        if self.out.error is None and self.phase != "stopped":
            raise GrammarError(f"the stream ended without message_stop (after {self.out.names[-1:]})")
        return self.out


def check_events(events: list[tuple[str | None, Any]]) -> CheckedStream:
    """Assert the grammar over parsed events; return what the stream said."""
    if not events:
        raise GrammarError("empty stream")
    checker = _Checker()
    for i, (name, data) in enumerate(events):
        checker.event(i, name, data)
    return checker.finish()


def check_stream(raw: str | bytes) -> CheckedStream:
    """Parse raw SSE text and assert the grammar over it."""
    return check_events(parse_sse(raw))
