"""Tool calling as prompt text, in the Nous/Hermes convention Qwen models are trained on.

The wording lives in `shared/prompts/tool_calling.md` so it can be tuned without a release; this module
only chooses sections and fills placeholders. The tags are fixed here and in `toolcalls`, which reads the
model's answer back.

`tool_choice` decides what is added under the signatures: "auto" nothing, "required" (or "any") "call at
least one", a named function "call exactly this one" (and only that function's signature is listed, so
the model cannot pick another), `parallel=False` "at most one per reply". For "none" the signatures are
*left out*, replaced by one line saying function calling is off: a model that sees `<tools>` tends to call
them whatever it is told, and a call it never makes needs no filtering. (The caller may still run the
parser over the reply; with no signatures in view a call is rare, and it is the caller's choice whether to
keep it.)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from .errors import InvalidRequest
from .json_repair import repair_json
from .model import ToolCall, ToolSpec
from .prompt_guard import neutralise
from .shared_data import load_text
from .toolcalls import TOOL_CALL_CLOSE, TOOL_CALL_OPEN

__all__ = [
    "TEMPLATE_FILE",
    "ToolChoice",
    "render_assistant_tool_calls",
    "render_tool_result",
    "render_tools_system_prompt",
    "resolve_tool_choice",
    "stronger_instruction",
]

TEMPLATE_FILE = "prompts/tool_calling.md"
_SECTION_MARKER = re.compile(r"^<!-- @([\w-]+) -->[ \t]*$", re.MULTILINE)
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
_EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}

ChoiceMode = Literal["auto", "none", "required", "named"]


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """`tool_choice` in any accepted spelling, reduced to what the prompt and the retry need."""

    mode: ChoiceMode
    name: str | None = None

    @property
    def requires_call(self) -> bool:
        return self.mode in ("required", "named")


_MODES: dict[str, ChoiceMode] = {"auto": "auto", "none": "none", "required": "required", "any": "required"}


def resolve_tool_choice(tool_choice: str | dict[str, Any] | ToolChoice | None) -> ToolChoice:
    """Accepts OpenAI ("auto", "required", {"type": "function", "function": {"name": ...}}), Anthropic
    ({"type": "any"}, {"type": "tool", "name": ...}) and the neutral {"name": ...}."""
    if tool_choice is None:
        return ToolChoice("auto")
    if isinstance(tool_choice, ToolChoice):
        return tool_choice
    if isinstance(tool_choice, str):
        mode = _MODES.get(tool_choice)
        if mode is None:
            raise InvalidRequest(f"unknown tool_choice {tool_choice!r}", param="tool_choice")
        return ToolChoice(mode)
    function = tool_choice.get("function")
    name = tool_choice.get("name") or (function.get("name") if isinstance(function, dict) else None)
    if isinstance(name, str) and name:
        return ToolChoice("named", name)
    mode = _MODES.get(str(tool_choice.get("type")))
    if mode is None:
        raise InvalidRequest(f"unknown tool_choice {tool_choice!r}", param="tool_choice")
    return ToolChoice(mode)


# ---- the template file ---------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _parse_sections(text: str) -> dict[str, str]:
    sections: dict[str, str] = {}
    markers = list(_SECTION_MARKER.finditer(text))
    for marker, following in zip(markers, [*markers[1:], None], strict=True):
        end = following.start() if following else len(text)
        sections[marker.group(1)] = text[marker.end() : end].strip("\n")
    return sections


def _section(name: str) -> str:
    sections = _parse_sections(load_text(TEMPLATE_FILE))
    try:
        return sections[name]
    except KeyError:
        raise KeyError(f"section {name!r} is missing from shared/{TEMPLATE_FILE}") from None


def _fill(template: str, **values: str) -> str:
    """Replace `{{key}}` in one pass, so a value that itself contains `{{...}}` is left alone."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


# ---- rendering -------------------------------------------------------------------------------------------


def _signature(tool: ToolSpec) -> str:
    function: dict[str, Any] = {"name": tool.name}
    if tool.description:
        function["description"] = tool.description
    function["parameters"] = tool.parameters or _EMPTY_SCHEMA
    return json.dumps({"type": "function", "function": function}, ensure_ascii=False)


def render_tools_system_prompt(
    tools: list[ToolSpec],
    tool_choice: str | dict[str, Any] | ToolChoice | None = None,
    parallel: bool = True,
) -> str:
    """The block to append to the system prompt ("" when there are no tools)."""
    choice = resolve_tool_choice(tool_choice)
    if not tools:
        if choice.requires_call:
            raise InvalidRequest(
                "tool_choice asks for a tool call but no tools were given", param="tool_choice"
            )
        return ""
    if choice.mode == "none":
        return _section("none")
    listed = tools
    if choice.mode == "named":
        listed = [tool for tool in tools if tool.name == choice.name]
        if not listed:
            raise InvalidRequest(f"tool_choice names an unknown tool {choice.name!r}", param="tool_choice")
    blocks = [_fill(_section("tools"), tools="\n".join(_signature(tool) for tool in listed))]
    if choice.mode == "named":
        blocks.append(_fill(_section("named"), name=choice.name or ""))
    else:
        if choice.mode == "required":
            blocks.append(_section("required"))
        if not parallel:
            blocks.append(_section("single"))
    return "\n\n".join(blocks)


def _arguments_json(arguments: str) -> str:
    """The call's arguments as JSON text to splice in verbatim (a JSON string if they are not JSON)."""
    if not arguments.strip():
        return "{}"
    repaired = repair_json(arguments)
    return repaired if repaired is not None else json.dumps(arguments, ensure_ascii=False)


def render_assistant_tool_calls(calls: list[ToolCall]) -> str:
    """An assistant turn's calls as the `<tool_call>` blocks the model itself would have written."""
    blocks = []
    for call in calls:
        name = json.dumps(call.name, ensure_ascii=False)
        body = f'{{"name": {name}, "arguments": {_arguments_json(call.arguments)}}}'
        blocks.append(f"{TOOL_CALL_OPEN}\n{body}\n{TOOL_CALL_CLOSE}")
    return "\n".join(blocks)


def render_tool_result(content: str, call_id: str | None = None, name: str | None = None) -> str:
    """One tool result as a `<tool_response>` block (the template decides whether the id/name show). The
    content is untrusted: tags and header lines in it are neutralised, so it cannot close the block."""
    return _fill(
        _section("tool_response"), content=neutralise(content), call_id=call_id or "", name=name or ""
    )


def stronger_instruction(tool_choice: str | dict[str, Any] | ToolChoice | None) -> str:
    """The extra instruction for one retry after a reply lacked a required call ("" if none is required)."""
    choice = resolve_tool_choice(tool_choice)
    if choice.mode == "named":
        return _fill(_section("retry_named"), name=choice.name or "")
    if choice.mode == "required":
        return _section("retry_required")
    return ""
