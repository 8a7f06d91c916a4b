"""Shaping the answer the way the client asked, for upstreams that cannot: stop sequences, max_tokens, calls.

`OutputShaper` is fed the upstream's events one by one and returns what the client should see; it is pure
(no I/O, no clock), so the gateway stays a thin loop and this logic is tested on its own.

Output tokens are counted in Qwen's vocabulary over the text taken whole (`TokenCounter`), not as a sum of
per-chunk estimates; once the upstream reports its own usage, its count wins and only what came after it is
added. With `native_tools` the upstream returns tool calls as events, so no `<tool_call>` text is parsed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from qwen_server.core.model import (
    ChatRequest,
    Citation,
    Event,
    Finish,
    TextDelta,
    ThinkingDelta,
    TokenLogprob,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from qwen_server.core.stops import StopMatcher
from qwen_server.core.tokens import TokenCounter, rough_count
from qwen_server.core.tooling import TextFilter, text_filter

HOLD_MARGIN = 16  # within this many tokens of max_tokens, an unfinished last word waits for the next chunk


@dataclass(slots=True)
class OutputShaper:
    request: ChatRequest
    native_tools: bool = False  # the provider's `native_tools`: calls come as events, text is only text
    upstream_limits: bool = False  # the upstream itself stops at max_tokens (OpenAI-compatible ones do)
    fenced_calls: bool = False  # a <tool_call> inside a Markdown code fence is run, not shown as text
    usage: Usage | None = None
    finish: Finish | None = None
    done: bool = False  # a stop sequence or the token limit ended the answer early
    calls: int = 0
    _stops: StopMatcher = field(init=False)
    _tools: TextFilter | None = field(init=False)
    _text: TokenCounter = field(init=False, default_factory=TokenCounter)
    _thinking: TokenCounter = field(init=False, default_factory=TokenCounter)
    _arguments: TokenCounter = field(init=False, default_factory=TokenCounter)
    _reported: int | None = field(init=False, default=None)  # the upstream's output count, when it gave one
    _logprobs: list[TokenLogprob] = field(init=False, default_factory=list)  # waiting for text to ride on
    _held: str = field(init=False, default="")  # near the token limit: the last word, until it is complete
    _bytes: int = field(init=False, default=0)  # UTF-8 bytes of output since the upstream's count, if any
    _rough: int = field(init=False, default=0)  # the rule's count of the same

    def __post_init__(self) -> None:
        self._stops = StopMatcher(self.request.stop)
        self._tools = text_filter(
            self.request, native_tools=self.native_tools, fenced_calls=self.fenced_calls
        )

    @property
    def rough_output_tokens(self) -> int:
        """Output so far by the characters-per-token rule on top of the upstream's count: no vocabulary
        needed, for figures that only have to be consistent (the pool's tokens per second)."""
        return (self._reported or 0) + self._rough

    def _took(self, text: str) -> None:
        self._bytes += len(text.encode())
        self._rough += rough_count(text)

    @property
    def output_tokens(self) -> int:
        """Output so far: the upstream's own count plus what came after it, else the tokenizer's count."""
        return self._tokens_with("")

    def feed(self, event: Event) -> list[Event]:
        if isinstance(event, Usage):
            self.usage = event
            if event.output_tokens:  # the upstream's count so far: only what comes after it is counted here
                self._reported = event.output_tokens
                self._text, self._thinking, self._arguments = TokenCounter(), TokenCounter(), TokenCounter()
                self._bytes = self._rough = 0
            return []
        if isinstance(event, Finish):
            self.finish = event
            return []
        if self.done:
            return []
        if isinstance(event, ThinkingDelta):
            self._thinking.add(event.text)
            self._took(event.text)
            return [event]
        if isinstance(event, TextDelta):
            self._logprobs += event.logprobs or ()
            pieces: list[Event] = self._tools.feed(event.text) if self._tools else [event]
            return self._shape(pieces)
        return self._shape([event])

    def close(self) -> list[Event]:
        """What remains held back (`final` then gives exactly one `Usage` and one `Finish`)."""
        out: list[Event] = []
        if not self.done:
            if self._tools is not None:
                out += self._shape(self._tools.finish())
            # what the stop matcher held back, and the last word held for the token limit
            out += self._shape_text(self._stops.flush(), through_stops=False, final=True)
            if self._logprobs and not self.done:  # their text was held back and cut by nothing: keep them
                out.append(TextDelta("", self._take_logprobs()))
        return out

    def final(self, input_tokens_estimate: int | Callable[[], int]) -> list[Event]:
        """`input_tokens_estimate` may be a function, so the prompt is tokenized only when the upstream
        reported no usage."""
        usage = self.usage
        if usage is None:
            estimate = (
                input_tokens_estimate if isinstance(input_tokens_estimate, int) else input_tokens_estimate()
            )
            usage = Usage(input_tokens=estimate, output_tokens=self.output_tokens, estimated=True)
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
            if self._held:  # a call or the end follows: the held word is whole, and goes out first
                out += self._shape_text("", through_stops=False, final=True)
                if self.done:
                    break
            if isinstance(
                event, Citation
            ):  # it cites the text before it: what the stop matcher holds goes first
                out += self._shape_text(self._stops.flush(), through_stops=False)
                if self.done:
                    break
            if isinstance(event, ToolCallStart):
                self.calls += 1
            if isinstance(event, ToolCallDelta):
                self._arguments.add(event.arguments)
                self._took(event.arguments)
            out.append(event)
        return out

    def _shape_text(self, text: str, *, through_stops: bool, final: bool = False) -> list[Event]:
        if through_stops:
            text = self._stops.feed(text)
            if self._stops.matched is not None:
                self.done = True
        limit = None if self.upstream_limits else self.request.max_tokens
        if limit is not None:
            text, self._held = self._held + text, ""
        # a token covers at least one byte: well under the limit by bytes, nothing needs counting (and the
        # vocabulary need not be loaded for the short answers most requests get)
        if (
            limit is not None
            and (self._reported or 0) + self._bytes + len(text.encode()) > limit - HOLD_MARGIN
        ):
            if text and not final and not self.done and self._tokens_with(text) > limit - HOLD_MARGIN:
                text, self._held = self._text.split_last_piece(text)
            if text:
                text, cut = self._cut_to_limit(text, limit)
                if cut:
                    self.finish = Finish("length")
                    self.done = True
                    self._held = ""
        self._text.add(text)
        self._took(text)
        if not text:
            return []
        return [TextDelta(text, self._take_logprobs())]

    def _take_logprobs(self) -> list[TokenLogprob] | None:
        taken, self._logprobs = self._logprobs, []
        return taken or None

    def _tokens_with(self, text: str) -> int:
        """Output tokens if `text` were added to the answer's text."""
        return self._others() + self._text.peek(text)

    def _others(self) -> int:
        """Output tokens that are not the answer's text: the upstream's count so far, thinking, arguments."""
        return (self._reported or 0) + self._thinking.total + self._arguments.total

    def _cut_to_limit(self, text: str, limit: int) -> tuple[str, bool]:
        """The part of `text` that the answer's first `limit` tokens cover, and whether that cut it short."""
        kept = self._text.fit(text, limit - self._others())
        return kept, kept != text
