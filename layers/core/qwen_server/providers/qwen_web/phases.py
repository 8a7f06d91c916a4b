"""The web stream's phases beyond `think` and `answer`: search, summaries, code, research progress.

Each `delta` of the web stream names its `phase`. `wire.parse_event` turns `think` and `answer` text into
neutral events and hands everything else here:

- `web_search`: a tool call (`function_call.arguments` with `queries`, possibly in pieces) and its result,
  in the newer shape (`role: "function"`, `extra.tool_result.docs`) or the older one
  (`extra.web_search_info`), become `SearchCall` + `SearchResults`;
- the answer's `[[n]]` markers (1-based, into every source of the answer in arrival order) become
  `Citation` events between the text pieces, held back across chunk boundaries while a marker may still be
  completing. Without sources the text passes untouched;
- `thinking_summary`: the text sits in `extra.summary_title` / `extra.summary_thought.content` (cumulative
  lists), so only what is new becomes thinking;
- `code_interpreter`: with code mode on, the code becomes a fenced block and its output plain text; off,
  the phase is dropped;
- any other phase with text is research progress: thinking in deep-research mode (so long runs show life),
  dropped otherwise. Nothing here raises on a shape it does not know.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from qwen_server.core.model import (
    Citation,
    Event,
    SearchCall,
    SearchResults,
    SearchSource,
    TextDelta,
    ThinkingDelta,
)

log = logging.getLogger("qwen_server")

_MARKER = re.compile(r"\[\[(\d+(?:\s*,\s*\d+)*)\]\]")
_PARTIAL = re.compile(r"\[(?:\[(?:[\d,\s]*\]?)?)?$")  # a tail that may still grow into a marker
_MAX_HELD = 24


@dataclass(slots=True)
class PhaseParser:
    """Per-answer state of the phases: pending search calls, sources so far, held marker text."""

    code_mode: bool = False
    progress_as_thinking: bool = False
    sources: list[SearchSource] = field(default_factory=list)
    searches: int = 0
    _calls: list[tuple[str, str]] = field(default_factory=list)  # (function id, arguments so far)
    _held: str = ""
    _summary_seen: int = 0
    _title: str = ""
    _code_open: bool = False

    # ---- the answer's text ------------------------------------------------------------------------------
    def answer(self, text: str) -> list[Event]:
        """Answer text with its citation markers turned into `Citation` events."""
        out: list[Event] = self._close_code()
        if not self.sources:
            if text:
                out.append(TextDelta(text))
            return out
        text = self._held + text
        self._held = ""
        tail = _PARTIAL.search(text)
        if tail is not None and len(text) - tail.start() <= _MAX_HELD:
            text, self._held = text[: tail.start()], text[tail.start() :]
        at = 0
        for match in _MARKER.finditer(text):
            numbers = [int(n) for n in match.group(1).split(",")]
            if not all(1 <= n <= len(self.sources) for n in numbers):
                continue  # not one of ours: stays as text
            if match.start() > at:
                out.append(TextDelta(text[at : match.start()]))
            out += [Citation(n, self.sources[n - 1]) for n in numbers]
            at = match.end()
        if at < len(text):
            out.append(TextDelta(text[at:]))
        return out

    def finish(self) -> list[Event]:
        """What is still held at the end of the answer (an incomplete marker is only text)."""
        out: list[Event] = self._close_code()
        held, self._held = self._held, ""
        if held:
            out.append(TextDelta(held))
        return out

    # ---- other phases -----------------------------------------------------------------------------------
    def other(self, phase: str | None, delta: dict[str, Any]) -> list[Event]:
        extra = delta.get("extra") if isinstance(delta.get("extra"), dict) else {}
        assert isinstance(extra, dict)
        if phase == "web_search" or delta.get("name") == "web_search":
            return self._search(delta, extra)
        if phase == "thinking_summary":
            return self._summary(extra)
        if phase == "code_interpreter":
            return self._code(delta, extra) if self.code_mode else []
        content = delta.get("content")
        if isinstance(content, str) and content and self.progress_as_thinking:
            return [ThinkingDelta(content)]
        if content:
            log.debug("dropped text of the web phase %r", phase)
        return []

    def _search(self, delta: dict[str, Any], extra: dict[str, Any]) -> list[Event]:
        call = delta.get("function_call")
        if isinstance(call, dict):
            function_id = str(delta.get("function_id") or extra.get("function_id") or len(self._calls))
            pieces = call.get("arguments")
            pieces = pieces if isinstance(pieces, str) else orjson.dumps(pieces or {}).decode()
            if self._calls and self._calls[-1][0] == function_id:
                self._calls[-1] = (function_id, self._calls[-1][1] + pieces)
            else:
                self._calls.append((function_id, pieces))
        docs = _docs(extra)
        if docs is None:
            return []
        _, arguments = self._calls.pop(0) if self._calls else ("", "")
        self.searches += 1
        search_id = f"search_{self.searches}"
        sources = [source for source in (_source(d) for d in docs) if source is not None]
        self.sources += sources
        return [SearchCall(search_id, _queries(arguments)), SearchResults(search_id, sources)]

    def _summary(self, extra: dict[str, Any]) -> list[Event]:
        out: list[Event] = []
        title = _texts(extra.get("summary_title"))
        if title and title[-1] != self._title:
            self._title = title[-1]
            out.append(ThinkingDelta(f"{self._title}\n"))
        thoughts = _texts(extra.get("summary_thought"))
        for thought in thoughts[self._summary_seen :]:
            out.append(ThinkingDelta(f"{thought}\n"))
        self._summary_seen = max(self._summary_seen, len(thoughts))
        return out

    def _code(self, delta: dict[str, Any], extra: dict[str, Any]) -> list[Event]:
        out: list[Event] = []
        content = delta.get("content")
        result = extra.get("tool_result")
        if delta.get("role") == "function" or result is not None:
            out += self._close_code()
            output = _code_output(result) if result is not None else (content or "")
            if output:
                out.append(TextDelta(f"{output.rstrip()}\n\n"))
            return out
        call = delta.get("function_call")
        code = content if isinstance(content, str) and content else ""
        if not code and isinstance(call, dict) and isinstance(call.get("arguments"), str):
            code = call["arguments"]
        if code:
            if not self._code_open:
                self._code_open = True
                out.append(TextDelta("```python\n"))
            out.append(TextDelta(code))
        if delta.get("status") == "finished":
            out += self._close_code()
        return out

    def _close_code(self) -> list[Event]:
        if not self._code_open:
            return []
        self._code_open = False
        return [TextDelta("\n```\n\n")]


def _docs(extra: dict[str, Any]) -> list[Any] | None:
    result = extra.get("tool_result")
    if isinstance(result, dict) and isinstance(result.get("docs"), list):
        return list(result["docs"])
    info = extra.get("web_search_info")
    if isinstance(info, list):
        return info
    return None


def _source(doc: Any) -> SearchSource | None:
    if not isinstance(doc, dict) or not isinstance(doc.get("url"), str) or not doc["url"]:
        return None
    return SearchSource(
        url=doc["url"],
        title=str(doc.get("title") or ""),
        snippet=str(doc.get("snippet") or ""),
        hostname=str(doc.get("hostname") or ""),
        date=str(doc.get("date") or ""),
    )


def _queries(arguments: str) -> list[str]:
    try:
        value = orjson.loads(arguments) if arguments else {}
    except orjson.JSONDecodeError:
        return [arguments] if arguments else []
    if isinstance(value, dict):
        queries = value.get("queries", value.get("query"))
        if isinstance(queries, str):
            return [queries]
        if isinstance(queries, list):
            return [str(q) for q in queries]
    return []


def _texts(value: Any) -> list[str]:
    """A summary field as a list of strings: a string, a list, or an object with a `content` list."""
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, dict):
        value = value.get("content")
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, str) and v]
    return []


def _code_output(result: Any) -> str:
    if isinstance(result, str):
        return result
    if isinstance(result, dict):
        for key in ("stdout", "output", "result", "text"):
            if isinstance(result.get(key), str):
                return str(result[key])
    return orjson.dumps(result).decode() if result else ""
