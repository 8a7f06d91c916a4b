"""Scripted replies: the `[[emulator:{...}]]` directive inside a prompt, and the object it holds."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

MARKER = "[[emulator:"
ERROR_KINDS = frozenset(
    {
        "500",
        "429",
        "401",
        "drop",
        "hang",
        "waf",
        "rate_limited",
        "in_stream",
        "bad_request",
        "content_filter",
        "garbage",
    }
)
_KEYS = frozenset(
    {"reply", "chunks", "thinking", "error", "silence", "silence_mid", "usage", "delay", "times", "details"}
)
_KEYS |= {"code", "code_output"}  # a code_interpreter phase before the answer
_KEYS |= {"echo"}  # repeat the request even where a model would call a tool or answer JSON
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Script:
    """What one completion must do. Unset fields fall back to the default behaviour (`replies.plan_reply`)."""

    reply: str | None = None
    chunks: tuple[str, ...] | None = None
    thinking: str | None = None
    error: str | None = None
    silence: float = 0.0
    silence_mid: float = 0.0
    usage: bool = True
    delay: float | None = None
    code: str | None = None  # run as a `code_interpreter` phase before the answer
    code_output: str | None = None
    times: int | None = None  # the scripted error only on the first `times` completions carrying it
    details: str | None = None  # the scripted error's message, instead of the emulator's own wording
    echo: bool = False  # echo the request, even when tools or a response format are offered


def _seconds(raw: Mapping[str, object], key: str) -> float | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{key!r} must be a non-negative number of seconds")
    return float(value)


def script_from_dict(raw: object) -> Script:
    """Validate one script object; raise ValueError naming what is wrong."""
    if not isinstance(raw, dict):
        raise ValueError("a script must be a JSON object")
    unknown = set(raw) - _KEYS
    if unknown:
        raise ValueError(f"unknown script keys: {sorted(unknown)}")
    reply, thinking, error = raw.get("reply"), raw.get("thinking"), raw.get("error")
    code, code_output = raw.get("code"), raw.get("code_output")
    details = raw.get("details")
    texts = (
        ("reply", reply),
        ("thinking", thinking),
        ("code", code),
        ("code_output", code_output),
        ("details", details),
    )
    for key, value in texts:
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{key!r} must be a string")
    if error is not None:
        error = str(error)
        if error not in ERROR_KINDS:
            raise ValueError(f"unknown error {error!r} (known: {', '.join(sorted(ERROR_KINDS))})")
    chunks = raw.get("chunks")
    if chunks is not None and (not isinstance(chunks, list) or not all(isinstance(c, str) for c in chunks)):
        raise ValueError("'chunks' must be a list of strings")
    times = raw.get("times")
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 0):
        raise ValueError("'times' must be a non-negative integer")
    usage, echo = raw.get("usage", True), raw.get("echo", False)
    if not isinstance(usage, bool) or not isinstance(echo, bool):
        raise ValueError("'usage' and 'echo' must be true or false")
    return Script(
        reply=reply,
        chunks=None if chunks is None else tuple(chunks),
        thinking=thinking,
        error=error,
        silence=_seconds(raw, "silence") or 0.0,
        silence_mid=_seconds(raw, "silence_mid") or 0.0,
        usage=usage,
        delay=_seconds(raw, "delay"),
        code=code,
        code_output=code_output,
        times=times,
        details=details,
        echo=echo,
    )


def _object_end(text: str, start: int) -> int | None:
    """Index just past the JSON object opening at `start` (strings and escapes respected)."""
    depth, in_string, escaped = 0, False, False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def _directives(text: str) -> list[tuple[int, int, Script | None]]:
    """(start, end, script or None when malformed) for every balanced directive, in order."""
    found: list[tuple[int, int, Script | None]] = []
    at = text.find(MARKER)
    while at != -1:
        body = at + len(MARKER)
        end = _object_end(text, body) if text.startswith("{", body) else None
        if end is None:
            at = text.find(MARKER, body)
            continue
        stop = end + 2 if text.startswith("]]", end) else end
        try:
            script: Script | None = script_from_dict(orjson.loads(text[body:end]))
        except ValueError as exc:  # orjson.JSONDecodeError is a ValueError
            log.warning("ignoring a malformed emulator directive: %s", exc)
            script = None
        found.append((at, stop, script))
        at = text.find(MARKER, stop)
    return found


def find_script(text: str) -> Script | None:
    """The script of the last valid directive in `text`, or None (the common case costs one `find`)."""
    if MARKER not in text:
        return None
    valid = [script for _, _, script in _directives(text) if script is not None]
    return valid[-1] if valid else None


def strip_directives(text: str) -> str:
    """`text` without its valid directives (what an echo repeats; a malformed one stays visible)."""
    if MARKER not in text:
        return text
    parts, last = [], 0
    for start, stop, script in _directives(text):
        if script is not None:
            parts.append(text[last:start])
            last = stop
    parts.append(text[last:])
    return "".join(parts)
