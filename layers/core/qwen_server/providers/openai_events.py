"""An OpenAI-compatible upstream's answer as neutral events: streamed chunks or one non-streamed body.

Native `tool_calls` arrive as fragments keyed by `index`: the id and name first, the arguments in pieces
after. `ToolCallAssembler` turns them into `ToolCallStart` / `ToolCallDelta` / `ToolCallEnd` with dense
neutral indices, one call after another (every known server streams calls in order). Logprobs ride on the
`TextDelta` of their chunk, in OpenAI's own shape.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import orjson

from qwen_server.core.errors import UpstreamError
from qwen_server.core.ids import hex_id
from qwen_server.core.model import (
    Event,
    Finish,
    TextDelta,
    ThinkingDelta,
    TokenLogprob,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    TopLogprob,
    Usage,
)
from qwen_server.providers.openai_errors import classify_error_object

log = logging.getLogger(__name__)

FINISH_REASONS = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


@dataclass(slots=True)
class _Call:
    index: int  # neutral index: dense, in order of appearance
    id: str
    name: str = ""
    pending: str = ""  # arguments that came before the name
    started: bool = False


class ToolCallAssembler:
    """Native tool-call fragments in, neutral call events out."""

    def __init__(self) -> None:
        self._calls: dict[int, _Call] = {}  # by the upstream's index
        self._count = 0
        self._open: int | None = None

    @property
    def count(self) -> int:
        return self._count

    def feed(self, fragments: list[Any]) -> list[Event]:
        events: list[Event] = []
        for position, fragment in enumerate(fragments):
            if isinstance(fragment, dict):
                events += self._fragment(fragment, position)
        return events

    def _fragment(self, fragment: dict[str, Any], position: int) -> list[Event]:
        key = fragment.get("index")
        key = key if isinstance(key, int) else position
        call_id = str(fragment.get("id") or "")
        function = fragment.get("function") or {}
        arguments = function.get("arguments") or ""
        if not isinstance(arguments, str):  # a few servers send the object itself
            arguments = orjson.dumps(arguments).decode()
        call = self._calls.get(key)
        if call is None or (call_id and call.id and call_id != call.id):  # a new id at a reused index
            call = _Call(index=self._count, id=call_id)
            self._count += 1
            self._calls[key] = call
        call.id = call.id or call_id
        if call.started:
            return [ToolCallDelta(call.index, arguments)] if arguments else []
        call.pending += arguments
        call.name = call.name or str(function.get("name") or "")
        if not call.name:
            return []
        call.started = True
        events: list[Event] = self._end_open()
        events.append(ToolCallStart(call.index, call.id or f"call_{hex_id(24)}", call.name))
        if call.pending:
            events.append(ToolCallDelta(call.index, call.pending))
            call.pending = ""
        self._open = call.index
        return events

    def _end_open(self) -> list[Event]:
        if self._open is None:
            return []
        index, self._open = self._open, None
        return [ToolCallEnd(index)]

    def close(self) -> list[Event]:
        """End the call in progress; a call whose name never came is dropped (nothing could run it)."""
        for call in self._calls.values():
            if not call.started:
                log.warning("dropped upstream tool call %d: it has no function name", call.index)
                call.started = True
        return self._end_open()


def parse_usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict) or not raw:
        return None
    details = raw.get("completion_tokens_details") or {}
    return Usage(
        int(raw.get("prompt_tokens") or 0),
        int(raw.get("completion_tokens") or 0),
        reasoning_tokens=int(details.get("reasoning_tokens") or 0) if isinstance(details, dict) else 0,
    )


def _top(raw: dict[str, Any]) -> TopLogprob:
    data = raw.get("bytes")
    return {
        "token": str(raw.get("token") or ""),
        "logprob": float(raw.get("logprob") or 0.0),
        "bytes": [int(b) for b in data] if isinstance(data, list) else None,
    }


def parse_logprobs(raw: Any) -> list[TokenLogprob] | None:
    """`choice.logprobs.content` in OpenAI's shape, typed; None when absent or malformed."""
    content = raw.get("content") if isinstance(raw, dict) else None
    if not isinstance(content, list) or not content:
        return None
    try:
        return [
            {
                **_top(token),
                "top_logprobs": [_top(t) for t in token.get("top_logprobs") or () if isinstance(t, dict)],
            }
            for token in content
            if isinstance(token, dict)
        ]
    except (TypeError, ValueError):
        log.warning("ignored malformed logprobs from the upstream")
        return None


def _finish(reason: Any) -> Finish:
    return Finish(FINISH_REASONS.get(str(reason), "stop"))  # type: ignore[arg-type]


def _upstream_error(body: dict[str, Any]) -> None:
    if isinstance(body.get("error"), dict):
        raise classify_error_object(body["error"])


class StreamReader:
    """The events of one streamed answer, chunk by chunk; `end()` gives what comes after the last chunk."""

    def __init__(self) -> None:
        self.done = False
        self.finish: Finish | None = None
        self.usage: Usage | None = None
        self.calls = ToolCallAssembler()

    def chunk(self, data: str) -> list[Event]:
        """Events of one `chat.completion.chunk` (or of `[DONE]`)."""
        data = data.strip()
        if not data:
            return []
        if data == "[DONE]":
            self.done = True
            return []
        chunk = orjson.loads(data)
        _upstream_error(chunk)
        self.usage = parse_usage(chunk.get("usage")) or self.usage
        events: list[Event] = []
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if delta.get("reasoning_content"):
                events.append(ThinkingDelta(delta["reasoning_content"]))
            logprobs = parse_logprobs(choice.get("logprobs"))
            if delta.get("content") or logprobs:
                events.append(TextDelta(delta.get("content") or "", logprobs))
            if delta.get("tool_calls"):
                events += self.calls.feed(delta["tool_calls"])
            if choice.get("finish_reason"):
                self.finish = _finish(choice["finish_reason"])
                events += self.calls.close()
        return events

    def end(self) -> list[Event]:
        events = self.calls.close()
        if self.usage is not None:
            events.append(self.usage)
        if self.finish is not None:
            events.append(self.finish)
        return events


def completion_events(raw: bytes) -> list[Event]:
    """Events of one non-streamed `chat.completion` body."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise UpstreamError("upstream answered with a body that is not JSON") from None
    if not isinstance(body, dict):
        raise UpstreamError("upstream answered with an unexpected body")
    _upstream_error(body)
    events: list[Event] = []
    finish: Finish | None = None
    calls = ToolCallAssembler()
    for choice in body.get("choices") or ():
        message = choice.get("message") or {}
        if message.get("reasoning_content"):
            events.append(ThinkingDelta(message["reasoning_content"]))
        logprobs = parse_logprobs(choice.get("logprobs"))
        if message.get("content") or logprobs:
            events.append(TextDelta(message.get("content") or "", logprobs))
        if isinstance(message.get("tool_calls"), list):
            events += calls.feed(message["tool_calls"]) + calls.close()
        if choice.get("finish_reason"):
            finish = _finish(choice["finish_reason"])
        break  # one choice: the gateway never asks for more
    usage = parse_usage(body.get("usage"))
    if usage is not None:
        events.append(usage)
    if finish is not None:
        events.append(finish)
    return events
