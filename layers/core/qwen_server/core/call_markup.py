"""Removing `<tool_call>` blocks from answer text when function calling is off (`tool_choice: "none"`).

With "none" the tools are not shown to the model, yet a model trained on the Nous convention may still write a
call. Nothing parses it then, so without this stage the raw XML would reach the client. Blocks are dropped
whole while the answer streams: text goes out at once, except a trailing partial tag (held only while it
could still be one) and whitespace before a block (kept only if text follows the block). A block left open
at the end is dropped, and a stray `</tool_call>` is removed.
"""

from __future__ import annotations

from qwen_server.core.model import Event, TextDelta
from qwen_server.core.toolcalls import TOOL_CALL_CLOSE, TOOL_CALL_OPEN

_TAGS = (TOOL_CALL_OPEN, TOOL_CALL_CLOSE)


def _partial_tag_at(buf: str, tags: tuple[str, ...]) -> int:
    """Where a trailing prefix of one of `tags` starts in `buf` (len(buf) when there is none)."""
    start = buf.rfind("<", max(0, len(buf) - len(TOOL_CALL_CLOSE) + 1))
    if start >= 0 and any(tag.startswith(buf[start:]) for tag in tags):
        return start
    return len(buf)


class CallMarkupStripper:
    """Fed answer text piece by piece; returns the text with every tool-call block removed."""

    def __init__(self) -> None:
        self._carry = ""  # a partial tag awaiting the next piece
        self._inside = False  # within a block: everything is dropped until its closing tag
        self._held_ws = ""  # whitespace at the end of the text so far, waiting for what follows
        self._after_block = False  # a block ended and no text has followed yet
        self._out: list[Event] = []

    def feed(self, text: str) -> list[Event]:
        self._out = []
        buf, self._carry = self._carry + text, ""
        pos = 0
        while pos < len(buf):
            if self._inside:
                end = buf.find(TOOL_CALL_CLOSE, pos)
                if end < 0:
                    hold = _partial_tag_at(buf, (TOOL_CALL_CLOSE,))
                    self._carry = buf[max(hold, pos) :]
                    break
                self._inside = False
                self._after_block = True
                pos = end + len(TOOL_CALL_CLOSE)
                continue
            opening, closing = buf.find(TOOL_CALL_OPEN, pos), buf.find(TOOL_CALL_CLOSE, pos)
            found = [i for i in (opening, closing) if i >= 0]
            if not found:
                hold = max(_partial_tag_at(buf, _TAGS), pos)
                self._text(buf[pos:hold])
                self._carry = buf[hold:]
                break
            at = min(found)
            self._text(buf[pos:at])
            if at == opening:
                self._inside = True
                pos = at + len(TOOL_CALL_OPEN)
            else:  # a closing tag without its opening one
                self._after_block = True
                pos = at + len(TOOL_CALL_CLOSE)
        return self._out

    def finish(self) -> list[Event]:
        self._out = []
        if not self._inside:
            self._text(self._carry)
            if self._held_ws and not self._after_block:
                self._emit(self._held_ws)
        self._carry, self._held_ws, self._inside = "", "", False
        return self._out

    def _text(self, text: str) -> None:
        if self._after_block:
            text = text.lstrip()
        core = text.rstrip()
        if core:
            self._emit(self._held_ws + core)
            self._held_ws = ""
            self._after_block = False
        self._held_ws += text[len(core) :]

    def _emit(self, text: str) -> None:
        if self._out and isinstance(self._out[-1], TextDelta):
            self._out[-1] = TextDelta(self._out[-1].text + text)
        else:
            self._out.append(TextDelta(text))
