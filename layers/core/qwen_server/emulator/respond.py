"""Pure: the answer a model would give to a conversation, when it asks for more than an echo.

In order: a call when tools are offered and the request asks for what one does (or `tool_choice` demands
one); after the tools answered, text that reports their results; JSON when a response format asks for it
(valid against its schema, filled from the request). `None` means nothing here applies: the caller echoes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from qwen_server.emulator.prompt_facts import Facts, facts_of, key_of
from qwen_server.emulator.prompt_reading import Reading, asks_more_than_text, read
from qwen_server.emulator.schema_fill import fill
from qwen_server.emulator.tool_pick import Call, pick
from qwen_server.emulator.tool_results import answer_from, cleaned


@dataclass(frozen=True, slots=True)
class Composed:
    text: str
    thought: str


def render_call(call: Call) -> str:
    """The call in the Nous/Hermes form the gateway's parser reads back."""
    body = json.dumps({"name": call.name, "arguments": call.arguments}, ensure_ascii=False)
    return f"<tool_call>\n{body}\n</tool_call>"


def _embedded_object(text: str) -> dict[str, Any] | None:
    """The first JSON object written out in the request, if any."""
    decoder = json.JSONDecoder()
    at = text.find("{")
    while at != -1:
        try:
            value, _ = decoder.raw_decode(text, at)
        except ValueError:
            at = text.find("{", at + 1)
            continue
        if isinstance(value, dict):
            return value
        at = text.find("{", at + 1)
    return None


_NUMERIC_KEYS = frozenset("year age count number price amount total quantity score rating size".split())
_KEYS_ASKED = re.compile(r"\b(?:keys|fields|properties|attributes)\b", re.IGNORECASE)


def _free_object(reading: Reading, facts: Facts) -> dict[str, Any]:
    """JSON mode without a schema: an object the request writes out, or one with the keys it names
    ("with keys title, year and director"), or its `key: value` pairs, else the request as an answer."""
    written = _embedded_object(reading.request)
    if written is not None:
        return written
    if facts.items and _KEYS_ASKED.search(reading.request):
        keys = [key_of(item) for item in facts.items if key_of(item)]
        properties = {
            k: {"type": "integer" if set(k.split("_")) & _NUMERIC_KEYS else "string"} for k in keys
        }
        value = fill({"type": "object", "properties": properties}, facts)
        if isinstance(value, dict):
            return value
    if len(facts.pairs) >= 2:
        return dict(facts.pairs)
    return {"answer": reading.request}


def _json(reading: Reading, facts: Facts) -> str:
    value = fill(reading.schema, facts) if reading.schema is not None else _free_object(reading, facts)
    return json.dumps(value, ensure_ascii=False)


def _gist(text: str) -> str:
    words = text.split()
    return " ".join(words[:12]) + (" ..." if len(words) > 12 else "")


def compose(content: str) -> Composed | None:
    """The answer to the flattened conversation `content`, or None to echo."""
    if not asks_more_than_text(content):
        return None
    reading = read(content)
    if not (reading.tools or reading.wants_json or reading.schema is not None):
        return None
    facts = facts_of(reading.request)
    answered = [e for e in reading.exchanges if e.result is not None]
    asked = f'The user asks: "{_gist(reading.request)}".'
    if reading.choice in ("required", "named") or not answered:
        call = pick(reading, facts)
        if call is not None:
            return Composed(render_call(call), f"{asked} {call.why}")
    if answered and not (reading.wants_json or reading.schema is not None):
        return Composed(answer_from(reading.exchanges), f"{asked} The tools answered; I report what they said.")
    if reading.wants_json or reading.schema is not None:
        if answered:
            results = " ".join(cleaned(e.result or "") for e in answered)
            facts = facts_of(f"{reading.request}\n{results}")
        return Composed(_json(reading, facts), f"{asked} The answer is JSON in the requested shape.")
    return None
