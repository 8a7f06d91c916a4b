"""Anthropic's web search server tool (`web_search_20250305` and later dated versions) over the web's search mode.

The client declares `{"type": "web_search_20250305", "name": "web_search", "max_uses", "allowed_domains" |
"blocked_domains"}`; the request then runs in the web's `search` chat type, and the answer carries a
`server_tool_use` block per search, a `web_search_tool_result` block with its results, and text blocks whose
`citations` are `web_search_result_location` entries. The options are honoured here, on the neutral stream:

- results outside `allowed_domains` or inside `blocked_domains` are removed (with the citations to them);
- searches beyond `max_uses` answer a `max_uses_exceeded` error result, as Anthropic's own do, and cite
  nothing. `user_location` is accepted and has no effect (the web picks its own region).
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson

from qwen_server.core import cleanup
from qwen_server.core.errors import InvalidRequest
from qwen_server.core.model import Citation, Event, SearchCall, SearchResults, SearchSource

SEARCH_TYPE = re.compile(r"^web_search_\d{8}$")
SERVER_TOOL_BLOCKS = frozenset({"server_tool_use", "web_search_tool_result"})  # skipped in history


@dataclass(slots=True)
class SearchTool:
    name: str
    max_uses: int | None = None
    allowed: tuple[str, ...] = ()
    blocked: tuple[str, ...] = ()
    exceeded: set[str] = field(default_factory=set)  # search ids answered with max_uses_exceeded
    requests: int = 0  # searches run (usage.server_tool_use.web_search_requests)


def is_search_tool(tool_type: str | None) -> bool:
    return bool(tool_type and SEARCH_TYPE.match(tool_type))


def search_tool(tools: list[Any], i: int) -> SearchTool:
    """The tool at `tools[i]`, checked."""
    tool = tools[i]
    allowed, blocked = tool.allowed_domains, tool.blocked_domains
    if allowed and blocked:
        raise InvalidRequest(
            f"tools.{i}: give allowed_domains or blocked_domains, not both",
            param=f"tools.{i}.blocked_domains",
        )
    for key, domains in (("allowed_domains", allowed), ("blocked_domains", blocked)):
        for j, domain in enumerate(domains or ()):
            if not isinstance(domain, str) or not domain.strip() or "://" in domain:
                raise InvalidRequest(
                    f"tools.{i}.{key}.{j}: a domain is a host name (with an optional path), without a scheme",
                    param=f"tools.{i}.{key}.{j}",
                )
    return SearchTool(
        tool.name,
        tool.max_uses,
        tuple(d.strip().lower() for d in allowed or ()),
        tuple(d.strip().lower() for d in blocked or ()),
    )


def _matches(url: str, domain: str) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    name, _, path = domain.partition("/")
    if host != name and not host.endswith("." + name):
        return False
    return not path or parts.path.lstrip("/").startswith(path)


def _kept(tool: SearchTool, source: SearchSource) -> bool:
    if tool.allowed and not any(_matches(source.url, d) for d in tool.allowed):
        return False
    return not any(_matches(source.url, d) for d in tool.blocked)


async def honour(events: AsyncIterator[Event], tool: SearchTool) -> AsyncIterator[Event]:
    """The stream with the tool's options applied (see the module's docstring). Closing it closes
    `events` (the gateway's stream, which frees its slots)."""
    dropped: set[str] = set()
    try:
        async for event in events:
            if isinstance(event, SearchCall):
                if tool.max_uses is not None and tool.requests >= tool.max_uses:
                    tool.exceeded.add(event.id)
                else:
                    tool.requests += 1
            elif isinstance(event, SearchResults):
                if event.id in tool.exceeded:
                    dropped.update(s.url for s in event.sources)
                    event = SearchResults(event.id, [])
                else:
                    kept = [s for s in event.sources if _kept(tool, s)]
                    dropped.update(s.url for s in event.sources if s not in kept)
                    event = SearchResults(event.id, kept)
            elif isinstance(event, Citation) and event.source.url in dropped:
                continue
            yield event
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await cleanup.complete(aclose())


# ---- blocks ---------------------------------------------------------------------------------------------------
def server_tool_use_id(search_id: str) -> str:
    return "srvtoolu_" + base64.b32encode(search_id.encode()).decode().rstrip("=").lower()


def query_json(call: SearchCall) -> str:
    return orjson.dumps({"query": " ".join(call.queries)}).decode()


def _opaque(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def result_block(tool_use_id: str, results: SearchResults, exceeded: bool) -> dict[str, Any]:
    content: Any
    if exceeded:
        content = {"type": "web_search_tool_result_error", "error_code": "max_uses_exceeded"}
    else:
        content = [
            {
                "type": "web_search_result",
                "url": s.url,
                "title": s.title,
                "encrypted_content": _opaque(s.snippet or s.title),
                "page_age": s.date or None,
            }
            for s in results.sources
        ]
    return {"type": "web_search_tool_result", "tool_use_id": tool_use_id, "content": content}


def location(citation: Citation, cited_text: str) -> dict[str, Any]:
    return {
        "type": "web_search_result_location",
        "url": citation.source.url,
        "title": citation.source.title,
        "encrypted_index": _opaque(f"{citation.number}:{citation.source.url}"),
        "cited_text": cited_text[-150:],
    }
