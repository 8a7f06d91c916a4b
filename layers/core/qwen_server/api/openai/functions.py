"""The deprecated `functions` / `function_call` request fields, mapped onto tools and back.

Older clients (and some frameworks still) send `functions` and `function_call` instead of `tools` and
`tool_choice`. They become the same neutral tools, with at most one call per reply (the old API had no
parallel calls). In history, an assistant's `function_call` is a tool call and a `function` message answers
the latest call of that name. The answer keeps the old shape: `message.function_call` (streamed as
`delta.function_call`) and `finish_reason: "function_call"`, never `tool_calls`, as OpenAI answers them.
"""

from __future__ import annotations

from typing import Any

import orjson

from qwen_server.api.openai.schemas import ChatCompletionRequest, FunctionCall
from qwen_server.core.errors import InvalidRequest
from qwen_server.core.ids import hex_id
from qwen_server.core.model import Message, ToolCall, ToolSpec


def uses_functions(body: ChatCompletionRequest) -> bool:
    """Whether the answer must use the deprecated shape."""
    return body.functions is not None and body.tools is None


def tools(body: ChatCompletionRequest) -> list[ToolSpec]:
    if body.functions is not None and body.tools is not None:
        raise InvalidRequest("send either tools or the deprecated functions, not both", param="functions")
    return [ToolSpec(f.name, f.description or "", f.parameters or {}) for f in body.functions or ()]


def tool_choice(value: str | dict[str, Any] | None) -> str | dict[str, str] | None:
    """`function_call` as a neutral tool_choice: "none", "auto" or {"name": ...}."""
    if value is None or value in ("none", "auto"):
        return value
    if isinstance(value, dict) and isinstance(value.get("name"), str) and value["name"]:
        return {"name": value["name"]}
    raise InvalidRequest('function_call must be "none", "auto" or {"name": ...}', param="function_call")


def history_call(call: FunctionCall) -> ToolCall:
    arguments = call.arguments if isinstance(call.arguments, str) else orjson.dumps(call.arguments).decode()
    return ToolCall(id=f"call_{hex_id(24)}", name=call.name, arguments=arguments)


def pair_results(messages: list[Message]) -> None:
    """Give each `function` result (a tool message without an id) the id of the latest call of its name."""
    latest: dict[str, str] = {}
    for message in messages:
        for call in message.tool_calls:
            latest[call.name] = call.id
        if message.role == "tool" and message.tool_call_id is None and message.name:
            message.tool_call_id = latest.get(message.name)
