"""How a citation reads inside answer text, for the APIs whose annotations point into the text.

The web marks a cited claim with `[[n]]`; OpenAI's chat completions and Responses API instead return the
text with an inline link and an annotation (`url_citation`) whose `start_index` / `end_index` cover exactly
that link, as OpenAI's own search answers do. Anthropic needs no text: its citations ride on the block.
"""

from __future__ import annotations

from typing import Any

from qwen_server.core.model import Citation


def citation_text(citation: Citation) -> str:
    source = citation.source
    label = source.hostname or source.title or str(citation.number)
    return f" ([{label}]({source.url}))"


def url_citation(citation: Citation, start: int, end: int) -> dict[str, Any]:
    """The flat annotation (Responses API shape); chat completions nest the same fields."""
    return {
        "type": "url_citation",
        "url": citation.source.url,
        "title": citation.source.title,
        "start_index": start,
        "end_index": end,
    }


def chat_annotation(citation: Citation, start: int, end: int) -> dict[str, Any]:
    flat = url_citation(citation, start, end)
    del flat["type"]
    return {"type": "url_citation", "url_citation": flat}
