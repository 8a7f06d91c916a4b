"""Neutral events → Anthropic's message stream events (as dicts), keeping the documented grammar.

`message_start`; then per content block `content_block_start`, deltas, `content_block_stop`, with indices
0, 1, 2, ...; then `message_delta` (stop reason, cumulative usage) and `message_stop`. The rules clients
depend on (Claude Code among them) are enforced here, once, for the streamed and the collected answer:

- a block opens on its first non-empty piece, so there are no empty text or thinking blocks;
- a block closes exactly once, when the next kind of block starts or the answer ends; a thinking block gets
  its `signature_delta` just before its `content_block_stop`;
- tool calls are taken as sequential, as the Nous parser and OpenAI-style upstreams produce them: a call's
  arguments stream while its block is open, and pieces for a call whose block was already closed are
  dropped (and logged), since a closed block cannot reopen;
- `stop_reason` is `tool_use` if and only if a `tool_use` block was sent, whatever the upstream said.

Pings and errors are the transport's business (`stream.py`), not this grammar's.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from qwen_server.api.anthropic import web_search
from qwen_server.api.anthropic.signature import ThinkingSigner
from qwen_server.api.anthropic.web_search import SearchTool
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

log = logging.getLogger("qwen_server")
StreamEvent = dict[str, Any]
BlockKind = Literal["text", "thinking", "tool_use", "server_tool_use", "web_search_tool_result"]

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "stop_sequence": "stop_sequence",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}


def new_message_id() -> str:
    return f"msg_{hex_id(24)}"


def tool_use_id(call_id: str) -> str:
    """An id in Anthropic's `toolu_` shape: the neutral parser mints OpenAI's `call_` ids, and clients that
    check the prefix (or log it) expect the vendor's own. A client sends it back in `tool_result`, and the
    id is opaque to the upstream, so renaming it here is the whole translation."""
    if call_id.startswith("toolu_"):
        return call_id
    return "toolu_" + call_id.removeprefix("call_")


def usage_body(input_tokens: int, output_tokens: int) -> dict[str, int]:
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


class MessageEvents:
    """One answer's event translator. `start()` first, then `feed()` every neutral event in order."""

    def __init__(
        self, model: str, input_tokens: int, *, omit_thinking: bool = False, search: SearchTool | None = None
    ) -> None:
        self.id = new_message_id()
        self.model = model
        self.input_tokens = input_tokens
        self.omit_thinking = omit_thinking
        self.finished = False
        self._index = -1
        self._open: BlockKind | None = None
        self._open_call: int | None = None
        self._signer: ThinkingSigner | None = None
        self._used_tools = False
        self._usage: Usage | None = None
        self._search = search  # the web search server tool, when declared
        self._search_ids: dict[str, str] = {}  # neutral search id → server_tool_use id
        self._searches = 0
        self._block_text = ""  # the open text block's text, for a citation's cited_text
        self._cited = False  # the open text block carries citations: the next text starts a new one

    def start(self) -> StreamEvent:
        return {
            "type": "message_start",
            "message": {
                "id": self.id,
                "type": "message",
                "role": "assistant",
                "model": self.model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": usage_body(self.input_tokens, 0),
            },
        }

    def feed(self, event: Event) -> list[StreamEvent]:
        if isinstance(event, TextDelta):
            return self._text(event.text)
        if isinstance(event, ThinkingDelta):
            return self._thinking(event.text)
        if isinstance(event, ToolCallStart):
            return self._tool_start(event)
        if isinstance(event, ToolCallDelta):
            return self._tool_delta(event)
        if isinstance(event, ToolCallEnd):
            return self._close() if self._open == "tool_use" and self._open_call == event.index else []
        if isinstance(event, Usage):
            self._usage = event
            return []
        if isinstance(event, Finish):
            return self._finish(event)
        if isinstance(event, SearchCall):
            return self._search_call(event)
        if isinstance(event, SearchResults):
            return self._search_results(event)
        if isinstance(event, Citation):
            return self._citation(event)
        return []

    # ---- blocks -----------------------------------------------------------------------------------------
    def _delta(self, delta: dict[str, Any]) -> StreamEvent:
        return {"type": "content_block_delta", "index": self._index, "delta": delta}

    def _open_block(self, kind: BlockKind, block: dict[str, Any]) -> list[StreamEvent]:
        out = self._close()
        self._index += 1
        self._open = kind
        return [*out, {"type": "content_block_start", "index": self._index, "content_block": block}]

    def _close(self) -> list[StreamEvent]:
        if self._open is None:
            return []
        out: list[StreamEvent] = []
        if self._open == "thinking" and self._signer is not None:
            out.append(self._delta({"type": "signature_delta", "signature": self._signer.signature()}))
            self._signer = None
        out.append({"type": "content_block_stop", "index": self._index})
        self._open = None
        self._open_call = None
        return out

    def _text(self, text: str) -> list[StreamEvent]:
        if not text:
            return []
        out: list[StreamEvent] = []
        if self._open != "text" or self._cited:
            out = self._open_block("text", {"type": "text", "text": ""})
            self._block_text, self._cited = "", False
        self._block_text += text
        out.append(self._delta({"type": "text_delta", "text": text}))
        return out

    # ---- web search (server tool) -------------------------------------------------------------------------
    def _search_call(self, event: SearchCall) -> list[StreamEvent]:
        tool_id = web_search.server_tool_use_id(event.id)
        self._search_ids[event.id] = tool_id
        if self._search is None or event.id not in self._search.exceeded:
            self._searches += 1
        name = self._search.name if self._search is not None else "web_search"
        out = self._open_block(
            "server_tool_use", {"type": "server_tool_use", "id": tool_id, "name": name, "input": {}}
        )
        out.append(self._delta({"type": "input_json_delta", "partial_json": web_search.query_json(event)}))
        return out + self._close()

    def _search_results(self, event: SearchResults) -> list[StreamEvent]:
        tool_id = self._search_ids.get(event.id)
        if tool_id is None:
            return []
        exceeded = self._search is not None and event.id in self._search.exceeded
        out = self._open_block("web_search_tool_result", web_search.result_block(tool_id, event, exceeded))
        return out + self._close()

    def _citation(self, event: Citation) -> list[StreamEvent]:
        if self._open != "text" or not self._block_text.strip():
            return []  # a citation needs text to cite; one at the very start has none
        self._cited = True
        location = web_search.location(event, self._block_text)
        return [self._delta({"type": "citations_delta", "citation": location})]

    def _thinking(self, text: str) -> list[StreamEvent]:
        if not text:
            return []
        out: list[StreamEvent] = []
        if self._open != "thinking":
            out = self._open_block("thinking", {"type": "thinking", "thinking": "", "signature": ""})
            self._signer = ThinkingSigner()
        assert self._signer is not None
        self._signer.update(text)
        if not self.omit_thinking:
            out.append(self._delta({"type": "thinking_delta", "thinking": text}))
        return out

    def _tool_start(self, event: ToolCallStart) -> list[StreamEvent]:
        block = {"type": "tool_use", "id": tool_use_id(event.id), "name": event.name, "input": {}}
        out = self._open_block("tool_use", block)
        self._open_call = event.index
        self._used_tools = True
        return out

    def _tool_delta(self, event: ToolCallDelta) -> list[StreamEvent]:
        if self._open != "tool_use" or self._open_call != event.index:
            log.warning("dropped arguments of tool call %d: its block is not open", event.index)
            return []
        if not event.arguments:
            return []
        return [self._delta({"type": "input_json_delta", "partial_json": event.arguments})]

    # ---- end ------------------------------------------------------------------------------------------
    def stop_reason(self, finish: Finish) -> str:
        if self._used_tools:
            return "tool_use"
        reason = STOP_REASONS.get(finish.reason, "end_turn")
        return "end_turn" if reason == "tool_use" else reason

    def _final_usage(self, usage: Usage) -> dict[str, Any]:
        body: dict[str, Any] = usage_body(usage.input_tokens or self.input_tokens, usage.output_tokens)
        if self._search is not None or self._searches:
            body["server_tool_use"] = {"web_search_requests": self._searches}
        return body

    def _finish(self, finish: Finish) -> list[StreamEvent]:
        if self.finished:
            return []
        out = self._close()
        reason = self.stop_reason(finish)
        usage = self._usage or Usage(input_tokens=self.input_tokens)
        out.append(
            {
                "type": "message_delta",
                "delta": {
                    "stop_reason": reason,
                    "stop_sequence": finish.stop_sequence if reason == "stop_sequence" else None,
                },
                "usage": self._final_usage(usage),
            }
        )
        out.append({"type": "message_stop"})
        self.finished = True
        return out
