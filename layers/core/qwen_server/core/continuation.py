"""Continuing an answer on another account when its stream breaks after the client has had bytes.

A connection drop, an idle timeout or an in-stream upstream error half-way through an answer would reach the
client as an error. Instead the gateway sends the conversation plus the partial answer to the next account,
with an instruction to continue exactly where it stopped, and splices that account's text onto what was
already sent. `Transcript` remembers the raw upstream text seen so far (before stop sequences or tool-call
parsing: the output shaper sees one uninterrupted upstream, so a `<tool_call>` cut in half is completed by
the next account and parsed once). `OverlapTrimmer` removes what the next account repeats of it.

What is not continued: an answer whose upstream sent structured tool-call events (a native tool call in flight
cannot be resumed without splitting or repeating it), an answer that had already finished, and errors another
account would answer the same way (a refused request). Thinking is not resumed: the continuation runs with
thinking off, so a think phase cut short ends there and the answer follows.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from qwen_server.core.errors import GatewayError, UpstreamUnknownError
from qwen_server.core.model import (
    ChatRequest,
    Event,
    Finish,
    Message,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
)

INSTRUCTION = (
    "Continue exactly where your previous answer stopped, mid-word or mid-line if that is where it stopped. "
    "Write only the rest of it: do not repeat any of it, do not start over, and do not comment on the "
    "interruption."
)
MAX_CONTINUATIONS = 2  # per request; each also takes a retry from the pool's budget
MIN_OVERLAP = 3  # shorter repeats of the partial answer's end are taken as new text
WINDOW = 400  # characters of the continuation held back, at most, while looking for a repeat


@dataclass(slots=True)
class Transcript:
    """What the upstream said so far, as far as continuing it is concerned."""

    text: list[str] = field(default_factory=list)
    thinking: bool = False
    structured: bool = False  # native tool-call events were seen
    finished: bool = False

    def note(self, event: Event) -> None:
        if isinstance(event, TextDelta):
            self.text.append(event.text)
        elif isinstance(event, ThinkingDelta):
            self.thinking = True
        elif isinstance(event, ToolCallStart | ToolCallDelta | ToolCallEnd):
            self.structured = True
        elif isinstance(event, Finish):
            self.finished = True

    @property
    def partial(self) -> str:
        return "".join(self.text)

    @property
    def started(self) -> bool:
        return bool(self.text) or self.thinking

    def can_continue(self, error: GatewayError) -> bool:
        """Whether a failure after the first byte is worth continuing elsewhere.

        An error code nobody mapped (`UpstreamUnknownError`) is not retried before the first byte, since it
        may be the request's doing; once the answer has started the upstream has accepted the request, so it
        is continued (and, as before, not held against the account)."""
        worth = error.retryable or isinstance(error, UpstreamUnknownError)
        return worth and self.started and not self.structured and not self.finished


def continuation_request(original: ChatRequest, partial: str) -> ChatRequest:
    """The original conversation, the partial answer as the assistant's turn, and the instruction.

    With no answer text yet (the stream broke while thinking) the question is simply asked again."""
    if not partial:
        return replace(original, thinking=False)
    messages = [
        *original.messages,
        Message(role="assistant", parts=[TextPart(partial)]),
        Message(role="user", parts=[TextPart(INSTRUCTION)]),
    ]
    return replace(original, messages=messages, thinking=False)


class OverlapTrimmer:
    """Drops what a continuation repeats of the partial answer, passing the rest through unchanged.

    The continuation's first characters are held until `WINDOW` of them (or the whole partial's length, if
    shorter) have arrived, or the stream ends. Then: if they start with the partial answer's last
    characters (at least `MIN_OVERLAP`), those are dropped; if the model started over (what came is a prefix
    of the partial answer), text is dropped for as long as it replays the partial answer."""

    def __init__(self, partial: str) -> None:
        self._partial = partial
        self._pending = ""
        self._replay: int | None = None  # position in the partial answer while the model replays it
        self._decided = not partial

    def feed(self, text: str) -> str:
        if self._decided:
            return text
        if self._replay is not None:
            return self._replaying(text)
        self._pending += text
        if len(self._pending) < min(len(self._partial), WINDOW):
            return ""
        return self._decide()

    def close(self) -> str:
        """What is still held when the continuation ends."""
        if self._decided or self._replay is not None:
            self._decided = True
            return ""
        return self._decide()

    def _decide(self) -> str:
        pending, partial = self._pending, self._partial
        self._pending = ""
        for k in range(min(len(pending), len(partial)), MIN_OVERLAP - 1, -1):
            if partial.endswith(pending[:k]):
                self._decided = True
                return pending[k:]
        if len(pending) >= MIN_OVERLAP and partial.startswith(pending):
            self._replay = len(pending)
            return ""
        self._decided = True
        return pending

    def _replaying(self, text: str) -> str:
        assert self._replay is not None
        partial, at = self._partial, self._replay
        matched = 0
        while matched < len(text) and at < len(partial) and text[matched] == partial[at]:
            matched += 1
            at += 1
        self._replay = at
        if matched == len(text) and at < len(partial):
            return ""  # still replaying
        self._decided = True
        return text[matched:]


@dataclass(slots=True)
class FailoverCounters:
    """This process's failover figures, shown in `/v1/metrics` under `failover`."""

    continuations: int = 0  # answers that broke after the first byte and were continued on another account
    continued_ok: int = 0  # of those, how many then finished
    continuations_refused: int = 0  # breaks not continued (budget spent, attempts used up, nobody left)
    retries_refused: int = 0  # failovers before the first byte cut short by the retry budget

    def snapshot(self, active: int, retrying: int) -> dict[str, int]:
        return {
            "continuations": self.continuations,
            "continued_ok": self.continued_ok,
            "continuations_refused": self.continuations_refused,
            "retries_refused": self.retries_refused,
            "requests_in_flight": active,
            "retries_in_flight": retrying,
        }
