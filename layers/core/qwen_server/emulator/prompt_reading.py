"""Pure: what a conversation asks of the model, read the way a Qwen model reads the gateway's prompt.

The gateway writes tools in the Nous/Hermes convention Qwen models are trained on (signatures, one JSON
object a line, between `<tools>` and `</tools>` lines; calls in `<tool_call>` blocks; results in
`<tool_response>` blocks) and asks for JSON in words ("Reply with one JSON value only ... It must validate
against this JSON Schema:" followed by the schema). This module finds those, the `tool_choice` the words
demand, what the user asked last, and the calls made and results received since.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from qwen_server.emulator.conversation import Turn, turns

_TOOLS = re.compile(r"^<tools>\n(.*?)\n</tools>$", re.MULTILINE | re.DOTALL)
_CALL = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.DOTALL)
_RESPONSE = re.compile(r"<tool_response>\n?(.*?)\n?</tool_response>", re.DOTALL)
_NAMED = re.compile(r"(?:must call the function|did not call) `([^`\n]+)`")
_REQUIRED = ("must call at least one of the functions", "a function call is required")
_CALLS_OFF = "Function calling is turned off"
_JSON_ONLY = "Reply with one JSON value only"
_SCHEMA_LEAD = "validate against this JSON Schema:"
_REMINDER = re.compile(r"<system-reminder>.*?</system-reminder>", re.DOTALL)
_CWD = (
    re.compile(r"<cwd>([^<\n]+)</cwd>"),
    re.compile(r"(?im)^\s*-?\s*(?:primary )?working directory:\s*(\S+)\s*$"),
    re.compile(r"(?im)^\s*cwd:\s*(\S+)\s*$"),
)
# the gateway's own follow-up turns: not what the user asked
GATEWAY_TURNS = (
    "Continue exactly where your previous answer stopped",
    "Your previous reply was rejected",
)


@dataclass(frozen=True, slots=True)
class ToolSig:
    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Exchange:
    """One call the model made since the last request, and what the tool answered (None: no answer yet)."""

    name: str
    arguments: dict[str, Any]
    result: str | None


@dataclass(frozen=True, slots=True)
class Reading:
    tools: tuple[ToolSig, ...] = ()
    choice: str = "auto"  # auto | none | required | named
    named: str | None = None
    wants_json: bool = False
    schema: dict[str, Any] | None = None
    request: str = ""  # the user's last request, harness reminders removed
    exchanges: tuple[Exchange, ...] = ()  # calls and results after that request
    cwd: str | None = None
    turns: tuple[Turn, ...] = field(default=(), repr=False)


def _tools(system: str) -> tuple[ToolSig, ...]:
    """The signatures of the last `<tools>` block whose lines are all JSON (a system prompt may quote the
    tag in prose before the gateway's block)."""
    for body in reversed(_TOOLS.findall(system)):
        sigs: list[ToolSig] = []
        try:
            for line in body.splitlines():
                if not line.strip():
                    continue
                raw = json.loads(line)
                function = raw.get("function", raw) if isinstance(raw, dict) else None
                if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                    raise ValueError("not a signature")
                params = function.get("parameters")
                sigs.append(
                    ToolSig(
                        function["name"],
                        str(function.get("description") or ""),
                        params if isinstance(params, dict) else {},
                    )
                )
        except ValueError:
            continue
        return tuple(sigs)
    return ()


def _schema(system: str) -> dict[str, Any] | None:
    at = system.rfind(_SCHEMA_LEAD)
    if at == -1:
        return None
    text = system[at + len(_SCHEMA_LEAD) :].lstrip()
    try:
        value, _ = json.JSONDecoder().raw_decode(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _choice(system: str, tools: tuple[ToolSig, ...]) -> tuple[str, str | None]:
    if _CALLS_OFF in system and not tools:
        return "none", None
    named = _NAMED.findall(system)
    if named:
        return "named", named[-1]
    if any(phrase in system for phrase in _REQUIRED):
        return "required", None
    return "auto", None


def strip_reminders(text: str) -> str:
    """The text without harness-injected `<system-reminder>` blocks (context, not the request)."""
    return _REMINDER.sub("", text).strip() if "<system-reminder>" in text else text.strip()


def _call(text: str) -> dict[str, Any] | None:
    try:
        raw = json.loads(text)
    except ValueError:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        return None
    arguments = raw.get("arguments")
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            arguments = {"input": arguments}
    return {"name": raw["name"], "arguments": arguments if isinstance(arguments, dict) else {}}


def _exchanges(after: list[Turn]) -> tuple[Exchange, ...]:
    """Calls (assistant turns) paired in order with the results (tool_result turns) that follow them."""
    calls: list[dict[str, Any]] = []
    results: list[str] = []
    for turn in after:
        if turn.role == "assistant":
            calls.extend(c for c in (_call(m) for m in _CALL.findall(turn.text)) if c is not None)
        elif turn.role == "tool_result":
            found = _RESPONSE.findall(turn.text)
            results.append(strip_reminders(found[0] if found else turn.text))
    out = [
        Exchange(c["name"], c["arguments"], results[i] if i < len(results) else None)
        for i, c in enumerate(calls)
    ]
    out += [Exchange("", {}, r) for r in results[len(calls) :]]
    return tuple(out)


def _cwd(text: str) -> str | None:
    for pattern in _CWD:
        found = pattern.findall(text)
        if found:
            return str(found[-1]).strip()
    return None


def asks_more_than_text(content: str) -> bool:
    """A cheap first look: could the prompt carry tools or a JSON instruction at all?"""
    return "<tools>" in content or _JSON_ONLY in content or _SCHEMA_LEAD in content


def read(content: str) -> Reading:
    """The reading of one flattened conversation."""
    all_turns = turns(content)
    system = "\n\n".join(t.text for t in all_turns if t.role == "system")
    tools = _tools(system)
    choice, named = _choice(system, tools)
    last = -1
    for i, turn in enumerate(all_turns):
        if turn.role == "user" and not turn.text.startswith(GATEWAY_TURNS):
            last = i
    request = strip_reminders(all_turns[last].text) if last >= 0 else ""
    return Reading(
        tools=tools,
        choice=choice,
        named=named,
        wants_json=_JSON_ONLY in system,
        schema=_schema(system),
        request=request,
        exchanges=_exchanges(all_turns[last + 1 :]),
        cwd=_cwd(content),
        turns=tuple(all_turns),
    )
