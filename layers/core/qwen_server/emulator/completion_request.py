"""Pure: validate a `/api/v2/chat/completions` body into the few fields the emulator acts on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CHAT_TYPES = frozenset({"t2t", "search", "deep_research", "artifacts", "web_dev"})


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    stream: bool
    incremental: bool
    model: str
    content: str
    message_id: str | None
    thinking: bool
    thinking_budget: int | None
    files: tuple[Any, ...] = ()
    chat_type: str = "t2t"


def parse_completion(body: Any, chat_id: str) -> CompletionRequest:
    """Raise ValueError with the reason a real server would give a Bad_Request for."""
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    stream = body.get("stream", True)
    incremental = body.get("incremental_output", False)
    if not isinstance(stream, bool) or not isinstance(incremental, bool):
        raise ValueError("'stream' and 'incremental_output' must be booleans")
    if body.get("chat_id", chat_id) != chat_id:
        raise ValueError("'chat_id' in the body does not match the query")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ValueError("'model' is required")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[0], dict):
        raise ValueError("'messages' must hold the new user message")
    message = messages[0]
    content = message.get("content")
    if not isinstance(content, str):
        raise ValueError("'messages[0].content' must be a string")
    chat_type = message.get("chat_type", "t2t")
    if chat_type not in CHAT_TYPES:
        raise ValueError(f"unsupported chat_type {chat_type!r}")
    feature = message.get("feature_config") or {}
    if not isinstance(feature, dict):
        raise ValueError("'feature_config' must be an object")
    thinking = feature.get("thinking_enabled", False)
    budget = feature.get("thinking_budget")
    if not isinstance(thinking, bool):
        raise ValueError("'feature_config.thinking_enabled' must be a boolean")
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int) or budget < 0):
        raise ValueError("'feature_config.thinking_budget' must be a non-negative integer")
    _optional_fields(body, message, chat_type)
    files = message.get("files") or []
    if not isinstance(files, list):
        raise ValueError("'messages[0].files' must be a list")
    message_id = message.get("fid")
    return CompletionRequest(
        stream=stream,
        incremental=incremental,
        model=model,
        content=content,
        message_id=message_id if isinstance(message_id, str) else None,
        thinking=thinking,
        thinking_budget=budget,
        files=tuple(files),
        chat_type=chat_type,
    )


def _optional_fields(body: dict[str, Any], message: dict[str, Any], chat_type: str) -> None:
    """Fields some clients send and others do not (the web app's own June 2026 payload): accepted either way,
    refused only when present with the wrong type. `extra.meta.subChatType`, when sent, names the chat type."""
    if not isinstance(message.get("version", ""), str):
        raise ValueError("'messages[0].version' must be a string")
    for holder, where in ((body, "project_id"), (message, "messages[0].project_id")):
        value = holder.get("project_id")
        if value is not None and not isinstance(value, str):
            raise ValueError(f"'{where}' must be a string or null")
    timestamp = message.get("timestamp")
    if timestamp is not None and (isinstance(timestamp, bool) or not isinstance(timestamp, int | float)):
        raise ValueError("'messages[0].timestamp' must be a number")
    extra = message.get("extra")
    meta = extra.get("meta") if isinstance(extra, dict) else None
    if extra is not None and (not isinstance(extra, dict) or (meta is not None and not isinstance(meta, dict))):
        raise ValueError("'messages[0].extra.meta' must be an object")
    sub = meta.get("subChatType") if isinstance(meta, dict) else None
    if sub is not None and sub != chat_type:
        raise ValueError(f"'extra.meta.subChatType' {sub!r} does not match chat_type {chat_type!r}")
