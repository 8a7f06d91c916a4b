"""Shaping the answer the way the client asked, for upstreams that cannot: stop sequences, max_tokens, calls.

`OutputShaper` is fed the upstream's events one by one and returns what the client should see; it is pure
(no I/O, no clock), so the gateway stays a thin loop and this logic is tested on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qwen_server.core.model import (
    ChatRequest,
    Event,
    Finish,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from qwen_server.core.stops import StopMatcher
from qwen_server.core.tokens import estimate_tokens
from qwen_server.core.tooling import TextFilter, text_filter


@dataclass(slots=True)
class OutputShaper:
    request: ChatRequest
    output_tokens: int = 0
    usage: Usage | None = None
    finish: Finish | None = None
    done: bool = False  # a stop sequence or the token limit ended the answer early
    calls: int = 0
    _stops: StopMatcher = field(init=False)
    _tools: TextFilter | None = field(init=False)

    def __post_init__(self) -> None:
        self._stops = StopMatcher(self.request.stop)
        self._tools = text_filter(self.request)

    def feed(self, event: Event) -> list[Event]:
        if isinstance(event, Usage):
            self.usage = event
            return []
        if isinstance(event, Finish):
            self.finish = event
            return []
        if self.done:
            return []
        if isinstance(event, ThinkingDelta):
            self.output_tokens += estimate_tokens(event.text)
            return [event]
        if isinstance(event, TextDelta):
            pieces: list[Event] = self._tools.feed(event.text) if self._tools else [event]
            return self._shape(pieces)
        return self._shape([event])

    def close(self) -> list[Event]:
        """What remains held back, then exactly one `Usage` and one `Finish`."""
        out: list[Event] = []
        if not self.done:
            if self._tools is not None:
                out += self._shape(self._tools.finish())
            tail = self._stops.flush()
            if tail:
                out += self._shape_text(tail, through_stops=False)
        return out

    def final(self, input_tokens_estimate: int) -> list[Event]:
        usage = self.usage or Usage(
            input_tokens=input_tokens_estimate, output_tokens=self.output_tokens, estimated=True
        )
        if self._stops.matched is not None:
            finish = Finish("stop_sequence", stop_sequence=self._stops.matched)
        elif self.finish is not None and self.finish.reason == "length":
            finish = self.finish
        elif self.calls:
            finish = Finish("tool_calls")
        else:
            finish = self.finish or Finish("stop")
        return [usage, finish]

    def _shape(self, events: list[Event]) -> list[Event]:
        out: list[Event] = []
        for event in events:
            if self.done:
                break
            if isinstance(event, TextDelta):
                out += self._shape_text(event.text, through_stops=True)
                continue
            if isinstance(event, ToolCallStart):
                self.calls += 1
            if isinstance(event, ToolCallDelta):
                self.output_tokens += estimate_tokens(event.arguments)
            out.append(event)
        return out

    def _shape_text(self, text: str, *, through_stops: bool) -> list[Event]:
        if through_stops:
            text = self._stops.feed(text)
            if self._stops.matched is not None:
                self.done = True
        limit = self.request.max_tokens
        if limit is not None and text:
            text, cut = _cut_to_limit(text, limit - self.output_tokens)
            if cut:
                self.finish = Finish("length")
                self.done = True
        self.output_tokens += estimate_tokens(text)
        return [TextDelta(text)] if text else []


def _cut_to_limit(text: str, remaining: int) -> tuple[str, bool]:
    if remaining <= 0:
        return "", True
    if estimate_tokens(text) <= remaining:
        return text, False
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if estimate_tokens(text[:mid]) <= remaining:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo], True
