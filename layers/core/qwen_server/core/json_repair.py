"""Lenient JSON in, strict JSON out, incrementally.

Models write "almost JSON": Python literals, single quotes, trailing commas, raw newlines inside strings,
a missing closing brace when the stream stops. `JsonRepairer` transcodes such text into strict JSON *as it
streams*, so a caller can forward the output piece by piece and never has to take anything back: whatever
has been appended to `out` is a prefix of the final text. Anything whose fate is still open (a comma that
may turn out to be trailing, a bare word that may become `True`, half an escape sequence) is held inside the
repairer until it is decided.

Repairs, all unambiguous:
- single-quoted strings and keys become double-quoted (`"` inside them is escaped, `\\'` becomes `'`);
- `True` / `False` / `None` become `true` / `false` / `null`;
- a trailing comma before `}` or `]` is dropped; a missing comma between two items is inserted;
- raw control characters inside strings are escaped; an invalid escape such as `\\s` keeps its backslash
  as a literal (`\\\\s`);
- at the end, containers still open are closed.

Everything else (unquoted keys, `undefined`, `NaN`, a mismatched closer, a string or key cut off by the end)
is not guessed at: the repairer fails, or with `finish(force=True)` closes what it has at the last sound
point (a dangling key or colon gets `null`). Valid JSON passes through byte for byte.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["JsonRepairer", "Member", "repair_json"]

_WS = re.compile(r"[ \t\n\r]*")
_RUN_DOUBLE = re.compile(r'[^"\\\x00-\x1f]*')
_RUN_SINGLE = re.compile(r"[^'\"\\\x00-\x1f]*")
_WORD = re.compile(r"[A-Za-z0-9_.+\-]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_WORD_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.+-")
_HEX = frozenset("0123456789abcdefABCDEF")
_LITERALS = {"true": "true", "false": "false", "null": "null"} | {
    "True": "true",
    "False": "false",
    "None": "null",
}
_SIMPLE_ESCAPES = frozenset('"\\/bfnrt')
_CONTROL = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}

# what the next token may be
_VALUE, _KEY, _COLON, _AFTER = range(4)

MemberKind = Literal["object", "array", "string", "word"]


@dataclass(slots=True)
class Member:
    """One member of the top-level object, located in `JsonRepairer.out` (piece indices)."""

    key: str
    kind: MemberKind
    start: int
    end: int | None = None  # piece index just past the value, once it is complete
    value: Any = None  # decoded, for string and word members once complete


class JsonRepairer:
    """Incremental lenient-to-strict JSON transcoder for one value.

    `feed(text, pos)` consumes from `pos` and returns where it stopped: at the end of `text`, just past
    the top-level value (`done`), at a character it cannot place (`failed` stays False: the caller may
    know what it is, e.g. a closing XML tag), or at a token it rejects (`failed` becomes True).
    With `track_members`, the direct members of a top-level object are recorded in `members`.
    """

    __slots__ = (
        "_cur_key",
        "_esc",
        "_expect",
        "_hex",
        "_member",
        "_pending",
        "_quote",
        "_stack",
        "_str_is_key",
        "_str_start",
        "_track",
        "_word",
        "done",
        "failed",
        "members",
        "out",
        "repaired",
    )

    def __init__(self, *, track_members: bool = False) -> None:
        self.out: list[str] = []
        self.done = False
        self.failed = False
        self.repaired = False
        self.members: dict[str, Member] = {}
        self._track = track_members
        self._stack: list[str] = []  # "{" or "["
        self._expect = _VALUE
        self._pending: list[str] | None = None  # a held comma and the whitespace after it
        self._quote = ""  # inside a string: its opening quote
        self._str_is_key = False
        self._str_start = 0
        self._esc = 0  # 0: none, 1: after a backslash, 2: reading \u hex digits
        self._hex = ""
        self._word: str | None = None
        self._cur_key: str | None = None
        self._member: Member | None = None

    @property
    def started(self) -> bool:
        """Whether any token (beyond whitespace) has been consumed."""
        return bool(self._stack) or self.done or bool(self._quote) or self._word is not None

    # ---- feeding ------------------------------------------------------------------------------------

    def feed(self, text: str, pos: int = 0) -> int:
        n = len(text)
        while pos < n and not self.done and not self.failed:
            if self._quote:
                pos = self._in_string(text, pos)
                continue
            if self._word is not None:
                pos = self._in_word(text, pos)
                continue
            c = text[pos]
            if c in " \t\n\r":
                end = _WS.match(text, pos).end()  # type: ignore[union-attr]
                if self._pending is not None:
                    self._pending.append(text[pos:end])
                else:
                    self.out.append(text[pos:end])
                pos = end
                continue
            new = self._token(c)
            if new < 0:
                return pos
            pos += new
        return pos

    def _token(self, c: str) -> int:
        """Handle one structural character; returns how many characters it consumed (-1: stuck)."""
        expect = self._expect
        top = self._stack[-1] if self._stack else ""
        if expect == _AFTER:
            if c == ",":
                self._pending = [","]
                self._expect = _KEY if top == "{" else _VALUE
                return 1
            if c in "}]":
                return self._close(c)
            # two items without a comma between them
            if (top == "{" and c in "\"'") or (top == "[" and (c in "{[\"'" or c in _WORD_START)):
                self._pending = [","]
                self._expect = _KEY if top == "{" else _VALUE
                self.repaired = True
                return 0
            return self._stuck(c)
        if expect == _COLON:
            if c == ":":
                self.out.append(":")
                self._expect = _VALUE
                return 1
            return self._stuck(c)
        if c in "}]":
            return self._close(c)
        if c in "\"'":
            self._open_string(c, is_key=expect == _KEY)
            return 1
        if expect == _KEY:
            return self._stuck(c)
        if c in "{[":
            self._begin_value("object" if c == "{" else "array")
            self.out.append(c)
            self._stack.append(c)
            self._expect = _KEY if c == "{" else _VALUE
            return 1
        if c in _WORD_START:
            self._begin_value("word")
            self._word = ""
            return 0
        return self._stuck(c)

    def _stuck(self, c: str) -> int:
        if c in ",:":  # a structural character in the wrong place is an error, not a foreign character
            self.failed = True
        return -1

    def _close(self, c: str) -> int:
        top = self._stack[-1] if self._stack else ""
        if (c == "}") != (top == "{") or not top or self._expect == _COLON:
            self.failed = True
            return -1
        if self._expect == _VALUE and top == "{":  # `{"a": }`
            self.failed = True
            return -1
        if self._pending is not None:  # trailing comma: keep the whitespace, drop the comma
            ws = "".join(self._pending[1:])
            if ws:
                self.out.append(ws)
            self._pending = None
            self.repaired = True
        self._stack.pop()
        self.out.append(c)
        self._value_end()
        return 1

    def _flush_pending(self) -> None:
        if self._pending is not None:
            self.out.append("".join(self._pending))
            self._pending = None

    def _begin_value(self, kind: MemberKind) -> None:
        self._flush_pending()
        if self._track and len(self._stack) == 1 and self._stack[0] == "{" and self._cur_key is not None:
            key = self._cur_key
            if key in self.members:
                self._member = None
            else:
                self._member = self.members[key] = Member(key, kind, len(self.out))

    def _value_end(self) -> None:
        if not self._stack:
            self.done = True
            return
        self._expect = _AFTER
        if self._track and len(self._stack) == 1 and self._member is not None:
            member = self._member
            member.end = len(self.out)
            if member.kind == "string":
                member.value = json.loads("".join(self.out[member.start : member.end]))
            elif member.kind == "word":
                member.value = self.out[-1]
            self._member = None

    # ---- strings --------------------------------------------------------------------------------------

    def _open_string(self, quote: str, *, is_key: bool) -> None:
        if is_key:
            self._flush_pending()
        else:
            self._begin_value("string")
        if quote == "'":
            self.repaired = True
        self._quote = quote
        self._str_is_key = is_key
        self._str_start = len(self.out)
        self.out.append('"')

    def _in_string(self, text: str, pos: int) -> int:
        if self._esc:
            return self._in_escape(text, pos)
        quote = self._quote
        end = (_RUN_DOUBLE if quote == '"' else _RUN_SINGLE).match(text, pos).end()  # type: ignore[union-attr]
        if end > pos:
            self.out.append(text[pos:end])
        if end == len(text):
            return end
        c = text[end]
        if c == quote:
            self.out.append('"')
            self._quote = ""
            self._string_end()
        elif c == "\\":
            self._esc = 1
        elif c == '"':  # inside a single-quoted string
            self.out.append('\\"')
        else:
            self.out.append(_CONTROL.get(c) or f"\\u{ord(c):04x}")
            self.repaired = True
        return end + 1

    def _in_escape(self, text: str, pos: int) -> int:
        if self._esc == 1:
            c = text[pos]
            if c in _SIMPLE_ESCAPES:
                self.out.append("\\" + c)
                pos += 1
            elif c == "'":
                self.out.append("'")
                self.repaired = True
                pos += 1
            elif c == "u":
                self._esc = 2
                self._hex = ""
                return pos + 1
            else:  # not an escape: the backslash was meant literally; `c` is read again as content
                self.out.append("\\\\")
                self.repaired = True
            self._esc = 0
            return pos
        n = len(text)
        while pos < n and len(self._hex) < 4 and text[pos] in _HEX:
            self._hex += text[pos]
            pos += 1
        if len(self._hex) == 4:
            self.out.append("\\u" + self._hex)
            self._esc = 0
        elif pos < n:  # `\u` followed by something that is not hex
            self.out.append("\\\\u" + self._hex)
            self.repaired = True
            self._esc = 0
        return pos

    def _string_end(self) -> None:
        if self._str_is_key:
            if self._track and len(self._stack) == 1:
                self._cur_key = json.loads("".join(self.out[self._str_start :]))
            self._expect = _COLON
        else:
            self._value_end()

    # ---- bare words (numbers and literals) -------------------------------------------------------------

    def _in_word(self, text: str, pos: int) -> int:
        end = _WORD.match(text, pos).end()  # type: ignore[union-attr]
        self._word = (self._word or "") + text[pos:end]
        if end < len(text):
            self._end_word()
        return end

    def _end_word(self) -> bool:
        """Place the finished word; a rejected word stays in `_word`, its slot open, for `finish`."""
        word = self._word or ""
        literal = _LITERALS.get(word)
        if literal is not None:
            if literal != word:
                self.repaired = True
            self.out.append(literal)
        elif _NUMBER.fullmatch(word):
            self.out.append(word)
        else:
            self.failed = True
            return False
        self._word = None
        self._value_end()
        return True

    # ---- the end ----------------------------------------------------------------------------------------

    def finish(self, *, force: bool = False) -> bool:
        """Close what is open. Returns whether `out` now holds one complete JSON value.

        Without `force`, only containers are closed: a cut-off string, key or word fails. With `force`
        (for output already committed downstream) everything is closed at the last sound point.
        """
        if self.done:
            return True
        if not self.started or (self.failed and not force):
            return False
        if self._word is not None and (self.failed or not self._end_word()):
            if not force:
                return False
            self._word = None
            self.out.append("null")  # the word's slot (and any comma before it) is already out
            self._value_end()
        if self._quote:
            if not force:
                return False
            self._esc = 0
            self._quote = ""
            self.out.append('"')
            self.repaired = True
            self._string_end()
        self._pending = None
        while self._stack:
            if self._expect in (_COLON, _VALUE) and self._stack[-1] == "{":
                if not force:
                    return False
                if self._expect == _COLON:
                    self.out.append(": ")
                self._begin_value("word")
                self.out.append("null")
                self._value_end()
            top = self._stack.pop()
            self.out.append("}" if top == "{" else "]")
            self.repaired = True
            self._value_end()
        return self.done

    def text(self) -> str:
        return "".join(self.out)


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def repair_json(text: str) -> str | None:
    """Strict JSON text for `text`, or None when it cannot be repaired unambiguously.

    Valid JSON is returned unchanged (surrounding whitespace stripped).
    """
    stripped = text.strip()
    try:
        json.loads(stripped, parse_constant=_reject_constant)
    except ValueError:
        pass
    else:
        return stripped
    repairer = JsonRepairer()
    pos = repairer.feed(stripped)
    if repairer.failed or (pos < len(stripped) and not repairer.done):
        return None
    if repairer.done and stripped[pos:].strip():
        return None
    if not repairer.finish():
        return None
    return repairer.text().strip()
