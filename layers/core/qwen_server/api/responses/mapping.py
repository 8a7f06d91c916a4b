"""Responses API request ⇄ the neutral `ChatRequest`: input items to messages, tools, options.

`input` is a string or a list of items; each item is checked here so a refusal names it (`input.2.type`).
`normalize` gives the items the ids and shape `GET /v1/responses/{id}/input_items` lists; `to_messages`
turns a whole conversation (the stored context of `previous_response_id`, then this input) into messages.
Output items of a stored response come back the same way: assistant text, and function calls that the
next input answers with `function_call_output`. An `item_reference` names a stored output item by its id
(clients that keep `store` on resend earlier turns that way); `storage.resolve_references` fills it in.
"""

from __future__ import annotations

from typing import Any

from qwen_server.api.responses.schemas import ResponsesRequest
from qwen_server.core.errors import InvalidRequest
from qwen_server.core.ids import hex_id
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
from qwen_server.core.modes import ask_mode
from qwen_server.media import datauri

WEB_SEARCH_TOOLS = frozenset({"web_search", "web_search_preview", "web_search_2025_08_26"})
_TEXT_PARTS = frozenset({"input_text", "output_text", "text", "summary_text"})
_ROLES = {"user": "user", "system": "system", "developer": "system", "assistant": "assistant"}
_SKIPPED = frozenset({"reasoning", "web_search_call"})  # output items that carry nothing to resend


def normalize(raw: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """This request's input as stored items (each with an id), checked item by item."""
    if isinstance(raw, str):
        return [_message_item("user", [{"type": "input_text", "text": raw}])]
    items: list[dict[str, Any]] = []
    for i, item in enumerate(raw):
        kind = item.get("type") or (
            "message" if "role" in item else "item_reference" if "id" in item else None
        )
        if kind == "message":
            role = item.get("role")
            if role not in _ROLES:
                raise InvalidRequest(f"input item role {role!r} is not supported", param=f"input.{i}.role")
            content = item.get("content")
            if isinstance(content, str):
                content = [{"type": "output_text" if role == "assistant" else "input_text", "text": content}]
            if not isinstance(content, list):
                raise InvalidRequest(
                    "content must be a string or a list of parts", param=f"input.{i}.content"
                )
            for j, part in enumerate(content):
                _check_part(part, f"input.{i}.content.{j}")
            items.append(
                {**_message_item(str(role), content), **({"id": item["id"]} if item.get("id") else {})}
            )
        elif kind == "function_call_output":
            _require(item, ("call_id",), i)
            output = item.get("output")
            if not isinstance(output, str | list):
                raise InvalidRequest("output must be a string or a list of parts", param=f"input.{i}.output")
            items.append(
                {
                    "id": item.get("id") or f"fco_{hex_id(24)}",
                    "type": "function_call_output",
                    "call_id": item["call_id"],
                    "output": output,
                    "status": "completed",
                }
            )
        elif kind == "function_call":
            _require(item, ("call_id", "name"), i)
            items.append(
                {
                    "id": item.get("id") or f"fc_{hex_id(24)}",
                    "type": "function_call",
                    "call_id": item["call_id"],
                    "name": item["name"],
                    "arguments": item.get("arguments") if isinstance(item.get("arguments"), str) else "{}",
                    "status": "completed",
                }
            )
        elif kind == "item_reference":
            _require(item, ("id",), i)
            items.append({"type": "item_reference", "id": item["id"]})  # resolved from the store by the route
        elif kind in _SKIPPED:
            items.append(dict(item))
        else:
            raise InvalidRequest(f"input item type {kind!r} is not supported here", param=f"input.{i}.type")
    return items


def _message_item(role: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": f"msg_{hex_id(24)}",
        "type": "message",
        "role": role,
        "status": "completed",
        "content": content,
    }


def _require(item: dict[str, Any], keys: tuple[str, ...], i: int) -> None:
    for key in keys:
        if not isinstance(item.get(key), str) or not item[key]:
            raise InvalidRequest(f"{key} is required", param=f"input.{i}.{key}")


def _check_part(part: Any, param: str) -> None:
    if not isinstance(part, dict):
        raise InvalidRequest("a content part must be an object", param=param)
    kind = part.get("type")
    if kind in _TEXT_PARTS or kind == "refusal":
        return
    if kind == "input_image" and (part.get("image_url") or part.get("file_id")):
        return
    if kind == "input_file" and (part.get("file_data") or part.get("file_url") or part.get("file_id")):
        return
    raise InvalidRequest(f"content part type {kind!r} is not supported or is missing its source", param=param)


# ---- items → messages -------------------------------------------------------------------------------------
def _parts(content: list[dict[str, Any]], param: str) -> list[Part]:
    parts: list[Part] = []
    for j, part in enumerate(content):
        kind = part.get("type")
        where = f"{param}.{j}"
        if kind in _TEXT_PARTS:
            parts.append(TextPart(str(part.get("text") or "")))
        elif kind == "refusal":
            parts.append(TextPart(str(part.get("refusal") or "")))
        elif kind == "input_image":
            if part.get("image_url"):
                detail = part.get("detail") if isinstance(part.get("detail"), str) else None
                parts.append(_by_url("image", str(part["image_url"]), f"{where}.image_url", detail))
            else:
                parts.append(MediaPart("image", file_id=str(part["file_id"]), param=f"{where}.file_id"))
        elif kind == "input_file":
            parts.append(_file(part, where))
    return parts


def _by_url(kind: MediaKind, url: str, param: str, detail: str | None = None) -> MediaPart:
    """A data: URL decoded here; an http(s) URL is kept for the guarded fetcher."""
    if datauri.is_data_url(url):
        try:
            data, media_type = datauri.parse_data_url(url)
        except ValueError as exc:
            raise InvalidRequest(f"malformed data: URL: {exc}", param=param) from None
        return MediaPart(kind, data=data, media_type=media_type, detail=detail, param=param)
    return MediaPart(kind, url=url, detail=detail, param=param)


def _file(part: dict[str, Any], param: str) -> MediaPart:
    """`file_data` (a data: URL or bare base64), `file_url` or `file_id`, as a document."""
    filename = part.get("filename") if isinstance(part.get("filename"), str) else None
    data = part.get("file_data")
    if isinstance(data, str) and data:
        where = f"{param}.file_data"
        if datauri.is_data_url(data):
            media = _by_url("document", data, where)
        else:
            try:
                media = MediaPart("document", data=datauri.decode_base64(data), param=where)
            except ValueError as exc:
                raise InvalidRequest(str(exc), param=where) from None
    elif part.get("file_url"):
        media = _by_url("document", str(part["file_url"]), f"{param}.file_url")
    else:
        media = MediaPart("document", file_id=str(part["file_id"]), param=f"{param}.file_id")
    media.filename = filename
    return media


def _output_text(output: str | list[Any]) -> str:
    if isinstance(output, str):
        return output
    return "".join(str(p.get("text") or "") for p in output if isinstance(p, dict))


def to_messages(items: list[dict[str, Any]]) -> list[Message]:
    messages: list[Message] = []
    for i, item in enumerate(items):
        kind = item.get("type")
        if kind == "message":
            messages.append(Message(_ROLES[item["role"]], _parts(item["content"], f"input.{i}.content")))  # type: ignore[arg-type]
        elif kind == "function_call":
            call = ToolCall(item["call_id"], item["name"], item.get("arguments") or "{}")
            last = messages[-1] if messages else None
            if last is not None and last.role == "assistant":
                last.tool_calls.append(call)
            else:
                messages.append(Message("assistant", tool_calls=[call]))
        elif kind == "function_call_output":
            messages.append(
                Message("tool", [TextPart(_output_text(item["output"]))], tool_call_id=item["call_id"])
            )
    return messages


# ---- options ------------------------------------------------------------------------------------------------
def _tools(body: ResponsesRequest) -> tuple[list[ToolSpec], bool]:
    """Function tools (a `namespace` tool's functions count as the request's own), and whether a web search
    tool asks for live search: one with `external_web_access: false` is cache-only, which the web cannot
    offer, so it does not switch the search mode on."""
    specs: list[ToolSpec] = []
    search = False
    for i, tool in enumerate(body.tools or ()):
        kind = tool.get("type")
        if kind in WEB_SEARCH_TOOLS:
            search = search or tool.get("external_web_access") is not False
        elif kind == "function":
            specs.append(_function(tool, f"tools.{i}"))
        elif kind == "namespace" and isinstance(tool.get("tools"), list):
            for j, inner in enumerate(tool["tools"]):
                if isinstance(inner, dict) and inner.get("type") == "function":
                    specs.append(_function(inner, f"tools.{i}.tools.{j}"))
        else:
            raise InvalidRequest(
                f"tool type {kind!r} is not supported by this gateway (function, namespace and web_search are)",
                param=f"tools.{i}.type",
            )
    return specs, search


def _function(tool: dict[str, Any], param: str) -> ToolSpec:
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRequest("a function tool needs a name", param=f"{param}.name")
    parameters = tool.get("parameters")
    return ToolSpec(
        name, str(tool.get("description") or ""), parameters if isinstance(parameters, dict) else {}
    )


def _tool_choice(body: ResponsesRequest, tools: list[ToolSpec]) -> str | dict[str, Any] | None:
    choice = body.tool_choice
    if choice is None or choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict):
        if choice.get("type") == "function":
            name = choice.get("name")
            if name not in {t.name for t in tools}:
                raise InvalidRequest(
                    f"tool_choice names {name!r}, which is not a function tool", param="tool_choice"
                )
            return {"name": name}
        if choice.get("type") in WEB_SEARCH_TOOLS:
            return "auto"
    raise InvalidRequest(
        "tool_choice must be auto, none, required, or a function or web_search tool", param="tool_choice"
    )


def _response_format(body: ResponsesRequest) -> dict[str, Any] | None:
    fmt = body.text.format if body.text is not None else None
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return {"type": "json_object"}
    if fmt.schema_ is None:
        raise InvalidRequest("text.format of type json_schema needs a schema", param="text.format.schema")
    schema = {"name": fmt.name or "output", "schema": fmt.schema_, "strict": bool(fmt.strict)}
    return {"type": "json_schema", "json_schema": schema}


def to_neutral(
    body: ResponsesRequest, context: list[dict[str, Any]], *, tenant: str, session_id: str | None
) -> ChatRequest:
    """The request for the whole conversation: `context` (inherited items, then this input, normalized)."""
    tools, search = _tools(body)
    messages = to_messages(context)
    if body.instructions:
        messages.insert(0, Message("system", [TextPart(body.instructions)]))
    if not any(m.role != "system" for m in messages):
        raise InvalidRequest("input is empty: give a string or at least one item", param="input")
    effort = body.reasoning.effort if body.reasoning is not None else None
    request = ChatRequest(
        model=body.model,
        messages=messages,
        stream=body.stream,
        temperature=body.temperature,
        top_p=body.top_p,
        max_tokens=body.max_output_tokens,
        thinking=effort not in (None, "none", "minimal"),
        tools=tools,
        tool_choice=_tool_choice(body, tools),
        parallel_tool_calls=body.parallel_tool_calls is not False,
        response_format=_response_format(body),
        user=body.user,
        session_id=session_id,
        tenant=tenant,
        extra={"reasoning_effort": effort} if effort else {},
    )
    if search:
        ask_mode(request, "search")
    return request
