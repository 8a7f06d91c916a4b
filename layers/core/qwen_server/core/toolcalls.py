"""Incremental parser for Nous/Hermes tool calls in streamed model text.

Qwen answers a function call as a block

    <tool_call>
    {"name": "get_weather", "arguments": {"city": "Paris"}}
    </tool_call>

possibly several in one reply (parallel calls), with ordinary text around them. `ToolCallParser` is fed
the reply piece by piece and turns it into neutral events, in order:

- `TextDelta` for ordinary text. Text streams at once, except what might still become `<tool_call>`
  (a trailing `<`, `<to`, ... is held only while it is a prefix of the tag: `<tx` is released at once) and
  trailing whitespace, held until it is known whether a call follows. Whitespace touching a call on either
  side is dropped, so text between, before and after calls carries no stray newlines.
- `ToolCallStart(index, id, name)` once the call is *committed*: its name is a complete string and its
  arguments have begun as an object (or arrived complete in another accepted form). Indices count 0, 1, 2
  over the calls of one reply; ids are `call_` + 24 alphanumerics (`id_factory` for tests).
- `ToolCallDelta(index, arguments)` fragments of the arguments, streamed as they arrive, in strict JSON:
  the fragments of one call concatenate to one valid JSON object.
- `ToolCallEnd(index)` when the call's JSON object is complete (or closed by force, see below).

The rule that keeps this order honest: nothing is retracted. Before a call is committed the parser keeps
its raw text; if the call turns out broken (not JSON, no name, arguments that are not an object, cut off
inside the name) the raw `<tool_call>...` text, tags included, is emitted as plain `TextDelta`. After the
call is committed, every fragment emitted is a prefix of valid JSON (see `json_repair`); if the model then
writes something beyond repair or stops early, the arguments are closed at the last sound point (a key left
without value gets `null`) and the call ends normally. Anything between the call's JSON and
`</tool_call>` (a stray brace, a code fence) is discarded.

Accepted variants: `"parameters"` for `"arguments"`; arguments missing or `null` (→ `{}`); arguments given
as a JSON string that holds an object; the JSON fenced in ```` ``` ```` inside the tags; `</tool_call>`
missing (at the end of the stream, or before the next `<tool_call>`); an empty `<tool_call></tool_call>`
(dropped). A `<tool_call>` inside a Markdown code fence in the text is still parsed as a call: telling an
example from a real call is guesswork, and a missed call costs more than a misread example.

`feed` is linear in its input: a piece is scanned once, plus what was held back (a partial tag, at most
one short fence line, and whitespace awaiting its fate).
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Callable

from .json_repair import JsonRepairer, Member, repair_json
from .model import Event, TextDelta, ToolCall, ToolCallDelta, ToolCallEnd, ToolCallStart
from .prompt_guard import FenceTracker

__all__ = ["TOOL_CALL_CLOSE", "TOOL_CALL_OPEN", "ToolCallParser", "new_call_id", "parse_complete"]

TOOL_CALL_OPEN = "<tool_call>"
TOOL_CALL_CLOSE = "</tool_call>"
_OPEN_ONLY = (TOOL_CALL_OPEN,)
_BOTH = (TOOL_CALL_CLOSE, TOOL_CALL_OPEN)
_LONGEST_TAG = len(TOOL_CALL_CLOSE)
_FENCE_LINE = re.compile(r"```[\w+.-]*[ \t\r]*")
_MAX_FENCE_LINE = 32
_ARGUMENT_KEYS = ("arguments", "parameters")
_ALPHANUMERIC = string.ascii_letters + string.digits

_TEXT, _CALL, _TAIL, _JUNK, _DONE = range(5)


def new_call_id() -> str:
    """`call_` + 24 random alphanumerics, the shape OpenAI clients expect."""
    return "call_" + "".join(secrets.choice(_ALPHANUMERIC) for _ in range(24))


def _hold_from(buf: str, pos: int, tags: tuple[str, ...]) -> int:
    """Where a trailing partial tag starts in `buf[pos:]` (len(buf) if there is none)."""
    j = buf.rfind("<", max(pos, len(buf) - _LONGEST_TAG + 1))
    if j >= 0:
        tail = buf[j:]
        for tag in tags:
            if tag.startswith(tail):
                return j
    return len(buf)


def _find_tag(buf: str, pos: int, tags: tuple[str, ...]) -> tuple[int, str]:
    """The earliest of `tags` in `buf[pos:]`: (index, tag), or (-1, "")."""
    best, found = -1, ""
    for tag in tags:
        i = buf.find(tag, pos)
        if i >= 0 and (best < 0 or i < best):
            best, found = i, tag
    return best, found


def _object_from_string(text: str) -> str | None:
    """Arguments sent as a string: the strict JSON of the object inside it, if it holds one."""
    repaired = repair_json(text) if text.strip() else "{}"
    if repaired is None or not repaired.startswith("{"):
        return None
    return repaired


class ToolCallParser:
    """Turns streamed model text into text and tool-call events (see the module docstring)."""

    def __init__(self, id_factory: Callable[[], str] = new_call_id, *, fenced_calls: bool = False) -> None:
        self.calls: list[ToolCall] = []  # the calls completed so far
        # a <tool_call> inside a Markdown code fence is shown, not run, unless `fenced_calls`
        self._fences: FenceTracker | None = None if fenced_calls else FenceTracker()
        self._id_factory = id_factory
        self._state = _TEXT
        self._carry = ""  # unconsumed input waiting for more: a partial tag or a partial fence line
        self._held_ws: list[str] = []
        self._after_call = False  # nothing but whitespace since the last call ended
        self._events: list[Event] = []
        # the call being read
        self._json = JsonRepairer(track_members=True)
        self._pre_ws: list[str] = []
        self._raw: list[str] | None = None  # its raw text while it is not yet committed
        self._started = False
        self._args: Member | None = None
        self._streaming = False  # arguments are forwarded from the repairer's output
        self._sent = 0
        self._call_id = ""
        self._name = ""
        self._parts: list[str] = []

    # ---- public -------------------------------------------------------------------------------------

    def feed(self, text: str) -> list[Event]:
        if self._state == _DONE:
            raise RuntimeError("ToolCallParser.feed() after finish()")
        events: list[Event] = []
        self._events = events
        buf = self._carry + text if self._carry else text
        self._carry = ""
        pos, n = 0, len(buf)
        while pos < n:
            state = self._state
            if state == _TEXT:
                pos = self._scan_text(buf, pos)
            elif state == _CALL:
                pos = self._scan_call(buf, pos)
            else:
                pos = self._scan_after(buf, pos)
        return events

    def finish(self) -> list[Event]:
        """End of the stream: resolve whatever is held."""
        if self._state == _DONE:
            return []
        events: list[Event] = []
        self._events = events
        carry, self._carry = self._carry, ""
        if self._state == _CALL:
            if not self._conclude():
                self._give_up(carry)
        elif self._state != _TAIL:
            self._text(carry)
        if self._held_ws:
            self._emit_text("".join(self._held_ws))
        self._held_ws = []
        self._state = _DONE
        return events

    # ---- text -----------------------------------------------------------------------------------------

    def _emit_text(self, text: str) -> None:
        events = self._events
        if events and isinstance(events[-1], TextDelta):
            events[-1] = TextDelta(events[-1].text + text)
        else:
            events.append(TextDelta(text))

    def _text(self, text: str) -> None:
        """Emit text, holding back trailing whitespace until it is known what follows it."""
        if self._after_call:
            text = text.lstrip()
        core = text.rstrip()
        if core:
            self._after_call = False
            if self._held_ws:
                self._emit_text("".join(self._held_ws) + core)
                self._held_ws = []
            else:
                self._emit_text(core)
        if len(core) < len(text):
            self._held_ws.append(text[len(core) :])

    def _scan_text(self, buf: str, pos: int) -> int:
        fences = self._fences
        i = buf.find(TOOL_CALL_OPEN, pos)
        if i >= 0:
            end = i + len(TOOL_CALL_OPEN)
            if fences is not None:
                fences.feed(buf[pos:i])
                if fences.inside:  # quoted in a code block: text
                    fences.feed(TOOL_CALL_OPEN)
                    self._text(buf[pos:end])
                    return end
            self._text(buf[pos:i])
            self._open_call()
            return end
        hold = _hold_from(buf, pos, _OPEN_ONLY)
        if fences is not None:
            fences.feed(buf[pos:hold])
        self._text(buf[pos:hold])
        self._carry = buf[hold:]
        return len(buf)

    def _scan_after(self, buf: str, pos: int) -> int:
        """After a call's JSON (discard) or after a broken call (pass on as text), up to the next tag."""
        keep = self._state == _JUNK
        i, tag = _find_tag(buf, pos, _BOTH)
        if tag == TOOL_CALL_CLOSE:
            if keep:
                self._text(buf[pos : i + len(tag)])
            self._state = _TEXT
            return i + len(tag)
        if tag == TOOL_CALL_OPEN:
            if keep:
                self._text(buf[pos:i])
            self._open_call()
            return i + len(tag)
        hold = _hold_from(buf, pos, _BOTH)
        if keep:
            self._text(buf[pos:hold])
        self._carry = buf[hold:]
        return len(buf)

    # ---- calls ----------------------------------------------------------------------------------------

    def _open_call(self) -> None:
        self._state = _CALL
        self._pre_ws, self._held_ws = self._held_ws, []
        self._raw = [TOOL_CALL_OPEN]
        self._json = JsonRepairer(track_members=True)
        self._started = False
        self._args = None
        self._streaming = False
        self._sent = 0
        self._parts = []

    def _scan_call(self, buf: str, pos: int) -> int:
        js = self._json
        start = pos
        pos = js.feed(buf, pos)
        if self._raw is not None and pos > start:
            self._raw.append(buf[start:pos])
        self._sync()
        if js.done:
            if self._conclude():
                self._state = _TAIL
            else:
                self._give_up(broken=True)
                self._state = _JUNK
            return pos
        n = len(buf)
        if pos >= n:
            return pos
        if not js.failed:
            c = buf[pos]
            if c == "<":
                return self._tag_in_call(buf, pos)
            if c == "`" and not js.started:
                return self._fence_in_call(buf, pos)
        self._break_call()
        return pos

    def _tag_in_call(self, buf: str, pos: int) -> int:
        if buf.startswith(TOOL_CALL_CLOSE, pos):
            end = pos + len(TOOL_CALL_CLOSE)
            if not self._conclude():
                self._give_up(TOOL_CALL_CLOSE)
            self._state = _TEXT
            return end
        if buf.startswith(TOOL_CALL_OPEN, pos):  # the previous call was never closed
            if not self._conclude():
                self._give_up()
            self._open_call()
            return pos + len(TOOL_CALL_OPEN)
        rest = buf[pos:]
        if len(rest) < _LONGEST_TAG and (TOOL_CALL_CLOSE.startswith(rest) or TOOL_CALL_OPEN.startswith(rest)):
            self._carry = rest
            return len(buf)
        self._break_call()
        return pos

    def _fence_in_call(self, buf: str, pos: int) -> int:
        """A ```json line before the call's JSON: skip it."""
        nl = buf.find("\n", pos, pos + _MAX_FENCE_LINE)
        if nl < 0:
            if len(buf) - pos < _MAX_FENCE_LINE:
                self._carry = buf[pos:]
                return len(buf)
        elif _FENCE_LINE.fullmatch(buf, pos, nl):
            if self._raw is not None:
                self._raw.append(buf[pos : nl + 1])
            return nl + 1
        self._break_call()
        return pos

    def _break_call(self) -> None:
        """The call's text went wrong before its JSON was complete."""
        if self._started:
            self._conclude()
            self._state = _TAIL
        else:
            self._give_up(broken=True)
            self._state = _JUNK

    def _give_up(self, tail: str = "", *, broken: bool = False) -> None:
        """An uncommitted call is not a call: its raw text (+ `tail`) becomes plain text.

        A call that ended (not `broken` by what follows) with an empty body vanishes, tags and all.
        """
        raw = self._raw or []
        self._raw = None
        self._held_ws = self._pre_ws + self._held_ws
        if broken or "".join(raw[1:]).strip():
            self._text("".join(raw) + tail)

    def _conclude(self) -> bool:
        """The call's text is over: finish its JSON and emit it. Returns whether it was a call."""
        js = self._json
        if not js.done:
            js.finish(force=self._started)
        self._sync(final=True)
        if not self._started:
            return False
        index = len(self.calls)
        self._events.append(ToolCallEnd(index))
        self.calls.append(ToolCall(self._call_id, self._name, "".join(self._parts)))
        self._after_call = True
        self._held_ws = []
        self._pre_ws = []
        return True

    def _sync(self, *, final: bool = False) -> None:
        """Emit what the JSON read so far makes certain: the start of the call, argument fragments."""
        js = self._json
        if not self._started:
            name = js.members.get("name")
            if name is None or name.kind != "string" or not name.value:
                return
            args = self._args_member()
            if args is None:
                if final and js.done:
                    self._start(name.value, "{}")
                return
            if args.kind == "object":
                self._start(name.value, None)
                self._sent = args.start
            elif args.end is None:
                return
            elif args.kind == "string":
                inner = _object_from_string(args.value)
                if inner is None:
                    return
                self._start(name.value, inner)
            elif args.kind == "word" and args.value == "null":
                self._start(name.value, "{}")
            else:
                return
        if self._streaming and self._args is not None:
            end = self._args.end if self._args.end is not None else len(js.out)
            if end > self._sent:
                fragment = "".join(js.out[self._sent : end])
                self._sent = end
                self._parts.append(fragment)
                self._events.append(ToolCallDelta(len(self.calls), fragment))

    def _args_member(self) -> Member | None:
        if self._args is None:
            for member in self._json.members.values():
                if member.key in _ARGUMENT_KEYS:
                    self._args = member
                    break
        return self._args

    def _start(self, name: str, arguments: str | None) -> None:
        index = len(self.calls)
        self._started = True
        self._raw = None
        self._call_id = self._id_factory()
        self._name = name
        self._events.append(ToolCallStart(index, self._call_id, name))
        if arguments is None:
            self._streaming = True
        else:
            self._parts.append(arguments)
            self._events.append(ToolCallDelta(index, arguments))


def parse_complete(
    text: str, *, id_factory: Callable[[], str] = new_call_id, fenced_calls: bool = False
) -> tuple[list[str], list[ToolCall]]:
    """A whole reply at once: its text segments (split where calls were) and its calls."""
    parser = ToolCallParser(id_factory, fenced_calls=fenced_calls)
    parts: list[str] = []
    joined = True  # whether the next text continues the last segment
    for event in parser.feed(text) + parser.finish():
        if isinstance(event, TextDelta):
            if parts and joined:
                parts[-1] += event.text
            else:
                parts.append(event.text)
            joined = True
        elif isinstance(event, ToolCallStart):
            joined = False
    return parts, parser.calls
