"""Anthropic Messages request → the neutral `ChatRequest`.

Block by block:
- `system` (string or text blocks) becomes one leading system message; a `system` turn inside `messages`
  (recent SDKs) becomes a system message in place.
- `text` → `TextPart`; `image` → `MediaPart(kind="image")`: a base64 source decoded to bytes, a url source
  kept for the guarded fetcher, a file source as its `file_id` (answered by the registered file sources).
- `document` with a plain-text or custom-content source → its text (title and context first, one per line);
  with a base64 (PDF), url or file source → `MediaPart(kind="document")` named after its title.
- `tool_use` (assistant turns only) → `ToolCall(id, name, arguments=JSON of input)`.
- `tool_result` (user turns only) → a `tool` message answering `tool_use_id`, named after the call it
  answers; `is_error` prefixes the text with `Error: ` (the neutral model has no error flag).
- `thinking` / `redacted_thinking` in history are accepted and dropped: the upstream cannot verify or use
  them, and replaying them as text would teach the model to write its reasoning into the answer.
- A user turn is split where tool results sit, keeping block order: results become `tool` messages, the
  text and images around them user messages.

Options: `thinking` enabled (with `budget_tokens`) / adaptive / disabled → `thinking`, `thinking_budget`;
`tool_choice` auto / any / tool / none → "auto" / "required" / {"name": ...} / "none", and
`disable_parallel_tool_use` → `parallel_tool_calls=False`. Structured output (`output_config.format`, or
the beta's `output_format`, `{"type": "json_schema", "schema": ...}`) → OpenAI's `response_format` of type
`json_schema`, so both APIs run the same JSON contract (instruction, validation, one repair retry).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from qwen_server.api.anthropic.schemas import (
    Base64Source,
    ContentSource,
    CountTokensRequest,
    DocumentBlock,
    ImageBlock,
    InputMessage,
    MessagesRequest,
    OtherSource,
    RedactedThinkingBlock,
    TextBlock,
    TextSource,
    ThinkingAdaptive,
    ThinkingBlock,
    ThinkingDisabled,
    ThinkingEnabled,
    ToolResultBlock,
    ToolUseBlock,
    URLSource,
)
from qwen_server.core.errors import InvalidRequest
from qwen_server.core.model import (
    ChatRequest,
    MediaKind,
    MediaPart,
    Message,
    Part,
    TextPart,
    ToolCall,
    ToolSpec,
)
from qwen_server.media import datauri

_EMPTY_SCHEMA = {"type": "object", "properties": {}}


@dataclass(frozen=True, slots=True)
class ThinkingChoice:
    """What the request said about thinking: on/off (None: not said), budget, and whether to show it."""

    enabled: bool | None = None
    budget: int | None = None
    omit_text: bool = False


def thinking_choice(body: CountTokensRequest) -> ThinkingChoice:
    config = body.thinking
    if config is None:
        return ThinkingChoice()
    if isinstance(config, ThinkingDisabled):
        return ThinkingChoice(enabled=False)
    omit = config.display == "omitted"
    if isinstance(config, ThinkingEnabled):
        return ThinkingChoice(enabled=True, budget=config.budget_tokens, omit_text=omit)
    assert isinstance(config, ThinkingAdaptive)
    return ThinkingChoice(enabled=True, omit_text=omit)


def _media(
    kind: MediaKind, source: Base64Source | URLSource | OtherSource, param: str, filename: str | None = None
) -> MediaPart:
    """A base64, url or file source as a `MediaPart`; any other source type is refused by name."""
    if isinstance(source, Base64Source):
        try:
            data = datauri.decode_base64(source.data)
        except ValueError as exc:
            raise InvalidRequest(str(exc), param=f"{param}.source.data") from None
        return MediaPart(
            kind=kind, data=data, media_type=source.media_type, filename=filename, param=f"{param}.source"
        )
    if isinstance(source, URLSource):
        return MediaPart(kind=kind, url=source.url, filename=filename, param=f"{param}.source.url")
    if source.type == "file" and source.file_id:
        return MediaPart(
            kind=kind, file_id=source.file_id, filename=filename, param=f"{param}.source.file_id"
        )
    raise InvalidRequest(
        f"{kind} source type {source.type!r} is not supported here: send it as base64, by url or as a file",
        param=f"{param}.source.type",
    )


def _image(block: ImageBlock, param: str) -> MediaPart:
    return _media("image", block.source, param)


def _document(block: DocumentBlock, param: str) -> list[Part]:
    source = block.source
    header = "".join(f"{line}\n" for line in (block.title, block.context) if line)
    if isinstance(source, TextSource):
        return [TextPart(header + source.data)]
    if isinstance(source, ContentSource):
        if isinstance(source.content, str):
            return [TextPart(header + source.content)]
        parts: list[Part] = [TextPart(header)] if header else []
        for i, inner in enumerate(source.content):
            if isinstance(inner, TextBlock):
                parts.append(TextPart(inner.text))
            else:
                parts.append(_image(inner, f"{param}.source.content.{i}"))
        return parts
    document = _media("document", source, param, filename=_filename(block.title))
    return [TextPart(header), document] if block.context else [document]


def _filename(title: str | None) -> str | None:
    """A document's title as an upload name (path separators and control characters dropped)."""
    if not title:
        return None
    cleaned = "".join(c for c in title if c.isprintable() and c not in "/\\").strip()
    return cleaned[:120] or None


def _content_parts(blocks: list[TextBlock | ImageBlock | DocumentBlock], param: str) -> list[Part]:
    parts: list[Part] = []
    for i, block in enumerate(blocks):
        if isinstance(block, TextBlock):
            parts.append(TextPart(block.text))
        elif isinstance(block, ImageBlock):
            parts.append(_image(block, f"{param}.{i}"))
        else:
            parts.extend(_document(block, f"{param}.{i}"))
    return parts


def _tool_result(block: ToolResultBlock, names: dict[str, str], param: str) -> Message:
    if isinstance(block.content, str):
        parts: list[Part] = [TextPart(block.content)] if block.content else []
    else:
        supported: list[TextBlock | ImageBlock | DocumentBlock] = []
        for i, inner in enumerate(block.content):
            if not isinstance(inner, TextBlock | ImageBlock | DocumentBlock):
                raise InvalidRequest(
                    f"tool_result content of type {inner.type!r} is not supported here",
                    param=f"{param}.content.{i}.type",
                )
            supported.append(inner)
        parts = _content_parts(supported, f"{param}.content")
    if block.is_error:
        parts = [TextPart("Error: "), *parts]
    return Message(
        role="tool", parts=parts, tool_call_id=block.tool_use_id, name=names.get(block.tool_use_id)
    )


def _turn(message: InputMessage, index: int, names: dict[str, str]) -> list[Message]:
    """One Anthropic turn as neutral messages (a user turn with tool results becomes several)."""
    role = message.role
    if isinstance(message.content, str):
        return [Message(role=role, parts=[TextPart(message.content)])]
    out: list[Message] = []
    parts: list[Part] = []
    calls: list[ToolCall] = []
    for i, block in enumerate(message.content):
        param = f"messages.{index}.content.{i}"
        if isinstance(block, TextBlock):
            parts.append(TextPart(block.text))
        elif isinstance(block, ImageBlock):
            parts.append(_image(block, param))
        elif isinstance(block, DocumentBlock):
            parts.extend(_document(block, param))
        elif isinstance(block, ToolUseBlock):
            if role != "assistant":
                raise InvalidRequest("tool_use blocks belong in assistant turns", param=f"{param}.type")
            names[block.id] = block.name
            calls.append(ToolCall(block.id, block.name, orjson.dumps(block.input).decode()))
        elif isinstance(block, ToolResultBlock):
            if role != "user":
                raise InvalidRequest("tool_result blocks belong in user turns", param=f"{param}.type")
            if parts:
                out.append(Message(role="user", parts=parts))
                parts = []
            out.append(_tool_result(block, names, param))
        elif isinstance(block, ThinkingBlock | RedactedThinkingBlock):
            continue
        else:
            raise InvalidRequest(
                f"content block type {block.type!r} is not supported by this gateway", param=f"{param}.type"
            )
    if parts or calls:
        out.append(Message(role=role, parts=parts, tool_calls=calls))
    return out


def _system(body: CountTokensRequest) -> list[Message]:
    if body.system is None:
        return []
    if isinstance(body.system, str):
        return [Message(role="system", parts=[TextPart(body.system)])] if body.system else []
    parts: list[Part] = [TextPart(b.text) for b in body.system if b.text]
    return [Message(role="system", parts=parts)] if parts else []


def neutral_messages(body: CountTokensRequest) -> list[Message]:
    names: dict[str, str] = {}
    messages = _system(body)
    for index, message in enumerate(body.messages):
        messages.extend(_turn(message, index, names))
    return messages


def neutral_tools(body: CountTokensRequest) -> list[ToolSpec]:
    specs: list[ToolSpec] = []
    for i, tool in enumerate(body.tools or ()):
        if tool.type not in (None, "custom"):
            raise InvalidRequest(
                f"tool type {tool.type!r} (an Anthropic-defined or server tool) is not supported by this "
                "gateway: declare it as a custom tool with an input_schema",
                param=f"tools.{i}.type",
            )
        if tool.input_schema is None:
            raise InvalidRequest(
                "Missing required parameter: 'input_schema'.", param=f"tools.{i}.input_schema"
            )
        specs.append(ToolSpec(tool.name, tool.description or "", tool.input_schema or dict(_EMPTY_SCHEMA)))
    return specs


def neutral_tool_choice(body: CountTokensRequest, tools: list[ToolSpec]) -> str | dict[str, str] | None:
    choice = body.tool_choice
    if choice is None:
        return None
    if choice.type == "tool":
        assert choice.name is not None  # the schema insists
        if choice.name not in {t.name for t in tools}:
            raise InvalidRequest(
                f"tool_choice names {choice.name!r}, which is not one of the request's tools",
                param="tool_choice.name",
            )
        return {"name": choice.name}
    return {"auto": "auto", "any": "required", "none": "none"}[choice.type]


def neutral_response_format(body: CountTokensRequest) -> dict[str, Any] | None:
    configured = body.output_config.format if body.output_config is not None else None
    if configured is not None and body.output_format is not None:
        raise InvalidRequest(
            "give the JSON schema once: output_config.format or output_format, not both",
            param="output_format",
        )
    chosen = configured or body.output_format
    if chosen is None:
        return None
    return {"type": "json_schema", "json_schema": {"name": "output", "schema": chosen.json_schema}}


def to_neutral(body: MessagesRequest, *, tenant: str, session_id: str | None) -> ChatRequest:
    tools = neutral_tools(body)
    thinking = thinking_choice(body)
    extra: dict[str, object] = {}
    if body.output_config is not None and body.output_config.effort is not None:
        extra["reasoning_effort"] = body.output_config.effort
    return ChatRequest(
        model=body.model,
        messages=neutral_messages(body),
        stream=body.stream,
        temperature=body.temperature,
        top_p=body.top_p,
        top_k=body.top_k,
        max_tokens=body.max_tokens,
        stop=[s for s in body.stop_sequences or () if s],
        thinking=bool(thinking.enabled),
        thinking_budget=thinking.budget,
        tools=tools,
        tool_choice=neutral_tool_choice(body, tools),
        parallel_tool_calls=not (body.tool_choice and body.tool_choice.disable_parallel_tool_use),
        response_format=neutral_response_format(body),
        user=body.metadata.user_id if body.metadata else None,
        session_id=session_id,
        tenant=tenant,
        extra=extra,
    )
