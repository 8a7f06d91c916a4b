"""Neutral events → the Responses API's output items and its streamed events (with sequence numbers).

One translator serves both forms: streamed, every event it returns is written as SSE; not streamed, the
same events are produced and only the final `response` object is kept. The sequence per item:

- reasoning (thinking): `output_item.added`, `reasoning_summary_part.added`,
  `reasoning_summary_text.delta`..., `reasoning_summary_text.done`, `reasoning_summary_part.done`,
  `output_item.done`;
- message: `output_item.added`, `content_part.added`, `output_text.delta`... (with
  `output_text.annotation.added` for a citation), `output_text.done`, `content_part.done`, `output_item.done`;
- function call: `output_item.added`, `function_call_arguments.delta`..., `.done`, `output_item.done`;
- web search: `output_item.added`, `web_search_call.in_progress`, `.searching`, `.completed`,
  `output_item.done`.

The response opens with `response.created` and `response.in_progress` and ends with exactly one of
`response.completed`, `response.incomplete` (max_output_tokens, content filter) or `response.failed`.
"""

from __future__ import annotations

import time
from typing import Any

from qwen_server.core.citations import citation_text, url_citation
from qwen_server.core.errors import GatewayError
from qwen_server.core.ids import hex_id
from qwen_server.core.model import (
    Citation,
    Event,
    Finish,
    SearchCall,
    SearchResults,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)

ResponseEvent = dict[str, Any]
INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def new_response_id() -> str:
    return f"resp_{hex_id(48)}"


def usage_body(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
    }


class ResponseEvents:
    """One response's translator: `start()`, then `feed()` every neutral event, then `end()`."""

    def __init__(self, response: dict[str, Any]) -> None:
        self.response = response  # the envelope (id, model, echoed options); output and status filled here
        self.response.update(
            {"object": "response", "created_at": int(time.time()), "status": "in_progress", "output": []}
        )
        self.response.setdefault("error", None)
        self.response.setdefault("incomplete_details", None)
        self.response.setdefault("usage", None)
        self._seq = 0
        self._open: dict[str, Any] | None = None  # the output item being written
        self._calls: dict[int, dict[str, Any]] = {}  # neutral tool call index → its item
        self._searches: dict[str, dict[str, Any]] = {}
        self._usage: Usage | None = None
        self._finish: Finish | None = None
        self.finished = False

    @property
    def id(self) -> str:
        return str(self.response["id"])

    def _event(self, kind: str, **fields: Any) -> ResponseEvent:
        event = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return event

    def _snapshot(self) -> dict[str, Any]:
        return {**self.response, "output": [dict(item) for item in self.response["output"]]}

    def start(self) -> list[ResponseEvent]:
        return [
            self._event("response.created", response=self._snapshot()),
            self._event("response.in_progress", response=self._snapshot()),
        ]

    # ---- items ---------------------------------------------------------------------------------------------
    def _add(self, item: dict[str, Any]) -> list[ResponseEvent]:
        out = self._close()
        self.response["output"].append(item)
        self._open = item
        return [
            *out,
            self._event("response.output_item.added", output_index=self._index(item), item=dict(item)),
        ]

    def _index(self, item: dict[str, Any]) -> int:
        return next(i for i, it in enumerate(self.response["output"]) if it is item)

    def _close(self) -> list[ResponseEvent]:
        item, self._open = self._open, None
        if item is None:
            return []
        index = self._index(item)
        out: list[ResponseEvent] = []
        if item["type"] == "message":
            part = item["content"][0]
            out += [
                self._event(
                    "response.output_text.done",
                    item_id=item["id"],
                    output_index=index,
                    content_index=0,
                    text=part["text"],
                    logprobs=[],
                ),
                self._event(
                    "response.content_part.done",
                    item_id=item["id"],
                    output_index=index,
                    content_index=0,
                    part=part,
                ),
            ]
        elif item["type"] == "reasoning":
            part = item["summary"][0]
            out += [
                self._event(
                    "response.reasoning_summary_text.done",
                    item_id=item["id"],
                    output_index=index,
                    summary_index=0,
                    text=part["text"],
                ),
                self._event(
                    "response.reasoning_summary_part.done",
                    item_id=item["id"],
                    output_index=index,
                    summary_index=0,
                    part=part,
                ),
            ]
        elif item["type"] == "function_call":
            out.append(
                self._event(
                    "response.function_call_arguments.done",
                    item_id=item["id"],
                    output_index=index,
                    name=item["name"],
                    arguments=item["arguments"],
                )
            )
        item["status"] = "completed"
        out.append(self._event("response.output_item.done", output_index=index, item=dict(item)))
        return out

    def _text(self, text: str, annotation: dict[str, Any] | None = None) -> list[ResponseEvent]:
        out: list[ResponseEvent] = []
        if self._open is None or self._open["type"] != "message":
            item: dict[str, Any] = {
                "id": f"msg_{hex_id(48)}",
                "type": "message",
                "status": "in_progress",
                "role": "assistant",
                "content": [],
            }
            out += self._add(item)
            part: dict[str, Any] = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            item["content"].append(part)
            out.append(
                self._event(
                    "response.content_part.added",
                    item_id=item["id"],
                    output_index=self._index(item),
                    content_index=0,
                    part={**part, "annotations": []},
                )
            )
        current = self._open
        assert current is not None
        item = current
        part = item["content"][0]
        index = self._index(item)
        start = len(part["text"])
        part["text"] += text
        out.append(
            self._event(
                "response.output_text.delta",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                delta=text,
                logprobs=[],
            )
        )
        if annotation is not None:
            annotation.update(start_index=start, end_index=len(part["text"]))
            part["annotations"].append(annotation)
            out.append(
                self._event(
                    "response.output_text.annotation.added",
                    item_id=item["id"],
                    output_index=index,
                    content_index=0,
                    annotation_index=len(part["annotations"]) - 1,
                    annotation=annotation,
                )
            )
        return out

    def _reasoning(self, text: str) -> list[ResponseEvent]:
        out: list[ResponseEvent] = []
        if self._open is None or self._open["type"] != "reasoning":
            item: dict[str, Any] = {"id": f"rs_{hex_id(48)}", "type": "reasoning", "summary": []}
            out += self._add(item)
            part: dict[str, Any] = {"type": "summary_text", "text": ""}
            item["summary"].append(part)
            out.append(
                self._event(
                    "response.reasoning_summary_part.added",
                    item_id=item["id"],
                    output_index=self._index(item),
                    summary_index=0,
                    part=dict(part),
                )
            )
        current = self._open
        assert current is not None
        item = current
        item["summary"][0]["text"] += text
        out.append(
            self._event(
                "response.reasoning_summary_text.delta",
                item_id=item["id"],
                output_index=self._index(item),
                summary_index=0,
                delta=text,
            )
        )
        return out

    def _call_start(self, event: ToolCallStart) -> list[ResponseEvent]:
        item = {
            "id": f"fc_{hex_id(48)}",
            "type": "function_call",
            "status": "in_progress",
            "arguments": "",
            "call_id": event.id,
            "name": event.name,
        }
        self._calls[event.index] = item
        return self._add(item)

    def _call_delta(self, event: ToolCallDelta) -> list[ResponseEvent]:
        item = self._calls.get(event.index)
        if item is None or item is not self._open or not event.arguments:
            return []
        item["arguments"] += event.arguments
        return [
            self._event(
                "response.function_call_arguments.delta",
                item_id=item["id"],
                output_index=self._index(item),
                delta=event.arguments,
            )
        ]

    def _search_call(self, event: SearchCall) -> list[ResponseEvent]:
        query = " | ".join(event.queries)
        item = {
            "id": f"ws_{hex_id(48)}",
            "type": "web_search_call",
            "status": "in_progress",
            "action": {"type": "search", "query": query},
        }
        self._searches[event.id] = item
        out = self._add(item)
        index = self._index(item)
        out.append(
            self._event("response.web_search_call.in_progress", item_id=item["id"], output_index=index)
        )
        out.append(self._event("response.web_search_call.searching", item_id=item["id"], output_index=index))
        return out

    def _search_results(self, event: SearchResults) -> list[ResponseEvent]:
        item = self._searches.get(event.id)
        if item is None or item is not self._open:
            return []
        item["action"]["sources"] = [{"type": "url", "url": s.url} for s in event.sources]
        out = [
            self._event(
                "response.web_search_call.completed", item_id=item["id"], output_index=self._index(item)
            )
        ]
        return out + self._close()

    # ---- the stream ----------------------------------------------------------------------------------------
    def feed(self, event: Event) -> list[ResponseEvent]:
        if isinstance(event, TextDelta):
            return self._text(event.text) if event.text else []
        if isinstance(event, ThinkingDelta):
            return self._reasoning(event.text) if event.text else []
        if isinstance(event, Citation):
            return self._text(citation_text(event), url_citation(event, 0, 0))
        if isinstance(event, ToolCallStart):
            return self._call_start(event)
        if isinstance(event, ToolCallDelta):
            return self._call_delta(event)
        if isinstance(event, ToolCallEnd):
            item = self._calls.get(event.index)
            return self._close() if item is not None and item is self._open else []
        if isinstance(event, SearchCall):
            return self._search_call(event)
        if isinstance(event, SearchResults):
            return self._search_results(event)
        if isinstance(event, Usage):
            self._usage = event
        elif isinstance(event, Finish):
            self._finish = event
        return []

    def end(self) -> list[ResponseEvent]:
        """Close the last item and the response: completed, or incomplete with its reason."""
        if self.finished:
            return []
        out = self._close()
        self.finished = True
        if self._usage is not None:
            self.response["usage"] = usage_body(self._usage)
        reason = INCOMPLETE.get(self._finish.reason) if self._finish is not None else None
        if reason is not None:
            self.response["status"] = "incomplete"
            self.response["incomplete_details"] = {"reason": reason}
            return [*out, self._event("response.incomplete", response=self._snapshot())]
        self.response["status"] = "completed"
        return [*out, self._event("response.completed", response=self._snapshot())]

    def fail(self, error: GatewayError) -> list[ResponseEvent]:
        """A failure after the first event: the stream's last event, `response.failed`."""
        out = self._close() if not self.finished else []
        self.finished = True
        self.response["status"] = "failed"
        self.response["error"] = {"code": error.code or "server_error", "message": error.message}
        return [*out, self._event("response.failed", response=self._snapshot())]

    def output_text(self) -> str:
        return "".join(
            part["text"]
            for item in self.response["output"]
            if item["type"] == "message"
            for part in item["content"]
        )
