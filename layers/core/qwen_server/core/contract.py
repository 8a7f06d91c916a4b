"""Output contracts: what an answer must satisfy beyond being text, checked once per request.

Two contracts exist: a required or named `tool_choice` (the answer must call a tool, or that tool) and a JSON
`response_format` (the answer must be JSON, valid against the schema if one is given). A request with one is
answered in full before anything reaches the client, checked, and asked once more with a stronger
instruction when it fails. A second answer that breaks a JSON contract again is an error
(`InvalidModelOutput`, raised by the gateway); one that again lacks a required call is returned as it is;
usage counts both attempts.

This module is the only place that knows the contracts: the gateway asks it how to phrase a request for an
upstream (`for_upstream`), whether an answer passes (`verdict`) and what to ask the second time (`retry`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from qwen_server.core import structured, tooling
from qwen_server.core.model import (
    ChatRequest,
    Event,
    Finish,
    Message,
    TextDelta,
    TextPart,
    ToolCallStart,
    Usage,
)


@dataclass(frozen=True, slots=True)
class OutputContract:
    wants_json: bool
    wants_call: bool

    @classmethod
    def of(cls, request: ChatRequest) -> OutputContract:
        """The request's contract; raises `InvalidRequest` for a `tool_choice` its tools cannot meet."""
        tooling.validate(request)
        return cls(structured.wants_json(request.response_format), tooling.requires_call(request))

    @property
    def checked(self) -> bool:
        return self.wants_json or self.wants_call

    def for_upstream(self, request: ChatRequest, native: bool) -> ChatRequest:
        """The request as one upstream kind needs it.

        An upstream with native tools and JSON mode gets them as they are. One that only speaks text gets the
        tools rendered into the system prompt (Nous/Hermes) and the JSON instruction appended to it."""
        if native or not (request.tools or self.wants_json):
            return request
        parts = [
            tooling.tool_prompt(request),
            structured.instruction(request.response_format or {}) if self.wants_json else "",
            str(request.extra.get("system_extra") or ""),  # e.g. the retry's stronger instruction
        ]
        return replace(request, extra={**request.extra, "system_extra": "\n\n".join(p for p in parts if p)})

    def verdict(self, request: ChatRequest, events: list[Event]) -> tuple[list[Event], str | None]:
        """The events to return (JSON text cleaned of fences) and what breaks the contract, if anything."""
        if self.wants_json:
            text = "".join(e.text for e in events if isinstance(e, TextDelta))
            clean, problem = structured.check(text, request.response_format or {})
            if clean is None:
                return events, problem
            rest = [e for e in events if not isinstance(e, TextDelta)]
            at = next((i for i, e in enumerate(rest) if isinstance(e, Usage | Finish)), len(rest))
            return [*rest[:at], TextDelta(clean), *rest[at:]], None
        called = [e.name for e in events if isinstance(e, ToolCallStart)]
        if not self.wants_call or tooling.satisfied(request, called):
            return events, None
        return events, "no required tool call"

    def retry(self, request: ChatRequest, first: list[Event], problem: str) -> ChatRequest:
        """The second request: the rejected JSON and what was wrong with it, or a stronger call instruction."""
        again = replace(request, messages=list(request.messages), extra=dict(request.extra))
        if self.wants_json:
            text = "".join(e.text for e in first if isinstance(e, TextDelta))
            fix = structured.repair_instruction(problem, request.response_format or {})
            again.messages += [Message("assistant", [TextPart(text)]), Message("user", [TextPart(fix)])]
        else:
            tooling.add_system_extra(again, tooling.retry_instruction(request))
        return again


def merge_usage(earlier: list[Event], final: list[Event]) -> list[Event]:
    """The final answer's events, with usage counting every attempt the client's request cost."""
    spent = [e for e in earlier if isinstance(e, Usage)]
    if not spent:
        return final
    out: list[Event] = []
    for event in final:
        if isinstance(event, Usage):
            event = Usage(
                input_tokens=event.input_tokens + sum(u.input_tokens for u in spent),
                output_tokens=event.output_tokens + sum(u.output_tokens for u in spent),
                reasoning_tokens=event.reasoning_tokens + sum(u.reasoning_tokens for u in spent),
                estimated=event.estimated or any(u.estimated for u in spent),
            )
        out.append(event)
    return out
