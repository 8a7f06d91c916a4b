"""Pure: the text answer once tools have answered, quoting what they returned.

A file read is reported as the file's content, a command as what it printed, any other tool as what it
returned; a result that reads as an error (a missing file, a refused permission) as a failure. Line-number gutters some readers add (`     1\\tline`, `1→line`) and a command runner's preamble
(`Output:` after exit code and timings) are left out, as a model would when it reports the content.
"""

from __future__ import annotations

import re

from qwen_server.emulator.prompt_reading import Exchange

MAX_QUOTE = 4_000
_GUTTER = re.compile(r"^ *\d+(?:\t|→|$)", re.MULTILINE)
_OUTPUT = re.compile(r"^Output:\n", re.MULTILINE)
_FAILED = re.compile(
    r"^\s*(?:<tool_use_error>|error\b|.*\b(?:no such file|does not exist|not found|permission denied)\b)",
    re.IGNORECASE,
)
_ERROR_TAGS = re.compile(r"</?tool_use_error>")


def cleaned(result: str) -> str:
    text = result.strip()
    found = _OUTPUT.search(text)
    if found is not None:
        text = text[found.end() :]
    lines = text.splitlines()
    if lines and all(_GUTTER.match(line) for line in lines if line.strip()):
        text = _GUTTER.sub("", text)
    text = text.strip()
    return text if len(text) <= MAX_QUOTE else text[:MAX_QUOTE] + "\n..."


def _subject(exchange: Exchange) -> tuple[str, str]:
    """(what was asked, the verb for its answer)."""
    arguments = exchange.arguments
    for key, value in arguments.items():
        if isinstance(value, str) and key.lower() in ("cmd", "command"):
            return f"`{value}`", "printed"
        if isinstance(value, list) and key.lower() == "command" and value:
            return f"`{value[-1]}`", "printed"
    for key, value in arguments.items():
        if isinstance(value, str) and ("path" in key.lower() or "file" in key.lower()):
            return f"`{value.rsplit('/', 1)[-1] or value}`", "contains"
    return (f"The {exchange.name} tool" if exchange.name else "The tool"), "returned"


def _one(exchange: Exchange) -> str:
    subject, verb = _subject(exchange)
    body = cleaned(exchange.result or "")
    if _FAILED.match(body):
        subject = f"Reading {subject}" if verb == "contains" else subject
        verb, body = "failed", _ERROR_TAGS.sub("", body).strip()
    if not body:
        return f"{subject} {verb} nothing."
    if "\n" not in body and len(body) <= 200:
        return f"{subject} {verb}: {body}"
    return f"{subject} {verb}:\n\n```\n{body}\n```"


def answer_from(exchanges: tuple[Exchange, ...]) -> str:
    """One paragraph per answered call, in the order they were made."""
    return "\n\n".join(_one(e) for e in exchanges if e.result is not None)
