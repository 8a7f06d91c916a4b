"""The web's chat types beyond plain text: which one a request asks for, and how its body says so.

A request names its mode in `ChatRequest.extra["chat_type"]` (set by a catalogue alias, OpenAI's
`web_search_options`, Anthropic's web search tool or the Responses API's `web_search` tool). The web API
reads the chat type from the message (`chat_type`, `sub_chat_type`, `extra.meta.subChatType`); deep research
also wants `feature_config.research_mode: "advance"` and no thinking switch of its own.
"""

from __future__ import annotations

from typing import Any

from qwen_server.core.model import ChatRequest

CHAT_TYPES = frozenset({"t2t", "search", "deep_research", "artifacts", "web_dev"})


def chat_type_of(request: ChatRequest) -> str:
    chat_type = request.extra.get("chat_type")
    return chat_type if isinstance(chat_type, str) and chat_type in CHAT_TYPES else "t2t"


def apply_mode(body: dict[str, Any], chat_type: str) -> dict[str, Any]:
    """`body` (a completion body) asking for `chat_type`."""
    if chat_type == "t2t":
        return body
    message = body["messages"][0]
    message["chat_type"] = message["sub_chat_type"] = chat_type
    message.setdefault("extra", {}).setdefault("meta", {})["subChatType"] = chat_type
    feature = message.setdefault("feature_config", {})
    if chat_type == "deep_research":
        feature["research_mode"] = "advance"
        feature["thinking_enabled"] = False
        feature.pop("thinking_budget", None)
    elif chat_type == "search":
        feature["auto_search"] = True
    return body
