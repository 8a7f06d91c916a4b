"""Function calling around an upstream that only speaks text: instructions in, parsed calls out.

The tools are rendered into the system prompt (Nous/Hermes convention, `tool_prompt`), and the answer's text
goes through the incremental `ToolCallParser`. The request's policy is applied to what it finds:
`parallel_tool_calls: false` keeps only the first call; with `tool_choice: "none"` nothing is parsed and any
call the model writes anyway is cut out of the text (`call_markup`), so no raw markup reaches the client.
"""

from __future__ import annotations

from typing import Protocol

from qwen_server.core.call_markup import CallMarkupStripper
from qwen_server.core.errors import InvalidRequest
from qwen_server.core.model import ChatRequest, Event, ToolCallDelta, ToolCallEnd, ToolCallStart
from qwen_server.core.tool_prompt import render_tools_system_prompt, resolve_tool_choice, stronger_instruction
from qwen_server.core.toolcalls import ToolCallParser


def add_system_extra(request: ChatRequest, text: str) -> None:
    """Append instructions to what the provider joins to the system prompt."""
    current = str(request.extra.get("system_extra") or "")
    request.extra["system_extra"] = f"{current}\n\n{text}" if current else text


def validate(request: ChatRequest) -> None:
    """Raise `InvalidRequest` for a `tool_choice` the request's tools cannot meet."""
    if request.tools:
        choice = resolve_tool_choice(request.tool_choice)
        if choice.mode == "named" and all(tool.name != choice.name for tool in request.tools):
            raise InvalidRequest(f"tool_choice names an unknown tool {choice.name!r}", param="tool_choice")
        return
    if request.tool_choice not in (None, "auto", "none"):
        resolve_tool_choice(request.tool_choice)  # raises for a named tool that cannot exist
        raise InvalidRequest("tool_choice requires tools", param="tool_choice")


def tool_prompt(request: ChatRequest) -> str:
    """The tools rendered for the system prompt of an upstream that only speaks text ("" without tools)."""
    if not request.tools:
        return ""
    return render_tools_system_prompt(request.tools, request.tool_choice, request.parallel_tool_calls)


def parses_calls(request: ChatRequest) -> bool:
    return bool(request.tools) and resolve_tool_choice(request.tool_choice).mode != "none"


class TextFilter(Protocol):
    """What the answer's text goes through before the client sees it."""

    def feed(self, text: str) -> list[Event]: ...

    def finish(self) -> list[Event]: ...


def text_filter(
    request: ChatRequest, *, native_tools: bool = False, fenced_calls: bool = False
) -> TextFilter | None:
    """The call parser when calls are allowed and come as text (not from an upstream with native tools),
    the markup stripper when `tool_choice` is "none". `fenced_calls`: run calls written in a code fence."""
    if parses_calls(request) and not native_tools:
        return ToolCallFilter(single=not request.parallel_tool_calls, fenced_calls=fenced_calls)
    if resolve_tool_choice(request.tool_choice).mode == "none":
        return CallMarkupStripper()
    return None


def requires_call(request: ChatRequest) -> bool:
    return bool(request.tools) and resolve_tool_choice(request.tool_choice).requires_call


def satisfied(request: ChatRequest, called: list[str]) -> bool:
    """Whether the calls made (by name) meet a required / named `tool_choice`."""
    choice = resolve_tool_choice(request.tool_choice)
    if choice.mode == "named":
        return choice.name in called
    if choice.mode == "required":
        return bool(called)
    return True


def retry_instruction(request: ChatRequest) -> str:
    return stronger_instruction(request.tool_choice)


class ToolCallFilter:
    """The parser plus the request's policy on how many calls may come out."""

    def __init__(self, single: bool, fenced_calls: bool = False) -> None:
        self._parser = ToolCallParser(fenced_calls=fenced_calls)
        self._single = single
        self.names: list[str] = []

    def _policy(self, events: list[Event]) -> list[Event]:
        out: list[Event] = []
        for event in events:
            if isinstance(event, ToolCallStart):
                self.names.append(event.name)
            if (
                self._single
                and isinstance(event, ToolCallStart | ToolCallDelta | ToolCallEnd)
                and event.index > 0
            ):
                continue
            out.append(event)
        return out

    def feed(self, text: str) -> list[Event]:
        return self._policy(self._parser.feed(text))

    def finish(self) -> list[Event]:
        return self._policy(self._parser.finish())
