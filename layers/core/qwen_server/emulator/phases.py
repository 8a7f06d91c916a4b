"""Pure: the phases a completion sends before its answer in the web's other modes.

- `search`: a `web_search` tool call (its `arguments` in two pieces), the tool result with `docs`, then an
  answer citing them with `[[n]]` markers (1-based, in the docs' order);
- `deep_research`: a `thinking_summary` plan, two search rounds (the second in the older
  `web_search_info` shape), `research_progress` notes, then a cited report;
- `artifacts` / `web_dev`: the answer is a page's source in a fenced block;
- any mode: a script's `code` runs as a `code_interpreter` phase (the code, then its output).

The real deep-research phases are not documented; the shapes here are plausible ones the gateway must
survive, not a capture.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from qwen_server.emulator import protocol

_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class ModePlan:
    """Delta objects sent before the answer, one SSE line each, and the answer the mode gives."""

    deltas: tuple[dict[str, Any], ...]
    answer: str | None  # None: the usual echo (or the script's reply)


def docs_for(question: str, count: int, offset: int = 0) -> list[dict[str, str]]:
    """Deterministic search results for a question."""
    slug = _SLUG.sub("-", question.lower()).strip("-")[:40] or "query"
    return [
        {
            "url": f"https://source{offset + i + 1}.example.org/{slug}",
            "title": f"Source {offset + i + 1} about {question[:60] or 'the query'}",
            "snippet": f"What source {offset + i + 1} says about {question[:60]}.",
            "hostname": f"source{offset + i + 1}.example.org",
            "date": "2026-11-30",
        }
        for i in range(count)
    ]


def _assistant(phase: str, status: str, content: str = "", **fields: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": content, "phase": phase, "status": status, **fields}


def _search_call(question: str, function_id: str) -> list[dict[str, Any]]:
    arguments = orjson.dumps({"queries": [question or "query"]}).decode()
    half = len(arguments) // 2
    return [
        _assistant(
            "web_search",
            "typing",
            function_call={"name": "web_search", "arguments": piece},
            function_id=function_id,
            extra={"display_position": "answer"},
        )
        for piece in (arguments[:half], arguments[half:])
    ]


def _search_result(docs: list[dict[str, str]], function_id: str) -> dict[str, Any]:
    return {
        "role": "function",
        "content": "",
        "phase": "web_search",
        "status": "finished",
        "name": "web_search",
        "extra": {"function_id": function_id, "tool_result": {"docs": docs}},
    }


def _code(code: str, output: str) -> list[dict[str, Any]]:
    return [
        _assistant("code_interpreter", "typing", code),
        {
            "role": "function",
            "content": "",
            "phase": "code_interpreter",
            "status": "finished",
            "name": "code_interpreter",
            "extra": {"tool_result": {"stdout": output}},
        },
    ]


def plan_mode(chat_type: str, question: str, code: str | None, code_output: str | None) -> ModePlan | None:
    deltas: list[dict[str, Any]] = []
    answer: str | None = None
    if chat_type == "search":
        deltas += _search_call(question, "round_0_1")
        deltas.append(_search_result(docs_for(question, 2), "1"))
        answer = f"{question}[[1]] Both sources agree.[[2]]"
    elif chat_type == "deep_research":
        deltas.append(
            _assistant(
                "thinking_summary",
                "typing",
                extra={
                    "summary_title": {"content": ["Planning the research"]},
                    "summary_thought": {"content": [f"Break down: {question[:80]}"]},
                },
            )
        )
        deltas += _search_call(question, "round_0_1")
        deltas.append(_search_result(docs_for(question, 2), "1"))
        deltas.append(_assistant("research_progress", "typing", "Read 2 sources; looking for a third."))
        deltas.append(
            {
                "role": "assistant",
                "content": "",
                "name": "web_search",
                "phase": "web_search",
                "status": "finished",
                "extra": {"web_search_info": docs_for(question, 1, offset=2)},
            }
        )
        deltas.append(_assistant("research_progress", "finished", "Writing the report."))
        answer = f"# Report\n\n{question}[[1]]\n\nConfirmed elsewhere[[2]][[3]]."
    elif chat_type in ("artifacts", "web_dev"):
        answer = f"```html\n<!DOCTYPE html>\n<html><body>\n<h1>{question[:80]}</h1>\n</body></html>\n```"
    if code is not None:
        deltas += _code(code, code_output or "")
    if not deltas and answer is None:
        return None
    return ModePlan(tuple(deltas), answer)


def delta_line(delta: dict[str, Any], response_id: str) -> bytes:
    return protocol.sse({"choices": [{"delta": delta}], "response_id": response_id})
