"""OpenAI Chat Completions ⇄ the neutral model: the request in, the events out (streamed or collected)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from qwen_server.api.openai import functions
from qwen_server.api.openai.media_parts import to_media
from qwen_server.api.openai.schemas import (
    ChatCompletionRequest,
    ChatMessage,
    FileContentPart,
    ImageContentPart,
    InputAudioContentPart,
    TextContentPart,
    VideoContentPart,
)
from qwen_server.core.errors import InvalidRequest
from qwen_server.core.ids import hex_id
from qwen_server.core.model import (
    ChatRequest,
    Event,
    Finish,
    Message,
    Part,
    TextDelta,
    TextPart,
    ThinkingDelta,
    TokenLogprob,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    ToolSpec,
    Usage,
)

FINISH = {
    "stop": "stop",
    "stop_sequence": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
}


def _parts(message: ChatMessage, where: str = "messages") -> list[Part]:
    content = message.content
    if content is None:
        return []
    if isinstance(content, str):
        return [TextPart(content)]
    parts: list[Part] = []
    for i, part in enumerate(content):
        if isinstance(part, TextContentPart):
            parts.append(TextPart(part.text))
        elif isinstance(part, ImageContentPart | InputAudioContentPart | FileContentPart | VideoContentPart):
            parts.append(to_media(part, f"{where}.content.{i}"))
        else:
            raise InvalidRequest(
                f"content part type {part.type!r} is not supported here", param=f"{where}.content.{i}.type"
            )
    return parts


def _message(message: ChatMessage, index: int = 0) -> Message:
    role = {"developer": "system", "function": "tool"}.get(message.role, message.role)
    calls = [
        ToolCall(
            id=c.id or f"call_{hex_id(24)}",
            name=c.function.name,
            arguments=c.function.arguments
            if isinstance(c.function.arguments, str)
            else orjson.dumps(c.function.arguments).decode(),
        )
        for c in message.tool_calls or ()
    ]
    if message.function_call is not None:
        calls.append(functions.history_call(message.function_call))
    return Message(
        role=role,  # type: ignore[arg-type]
        parts=_parts(message, f"messages.{index}"),
        tool_calls=calls,
        tool_call_id=message.tool_call_id,
        name=message.name,
    )


def to_neutral(body: ChatCompletionRequest, *, tenant: str, session_id: str | None) -> ChatRequest:
    if body.n is not None and body.n > 1:
        raise InvalidRequest("n > 1 is not supported: ask for one choice per request", param="n")
    stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    thinking = bool(body.enable_thinking) or (body.reasoning_effort not in (None, "none", "minimal"))
    if body.enable_thinking is False:
        thinking = False
    tool_choice = body.tool_choice
    if tool_choice is None and body.function_call is not None:
        tool_choice = functions.tool_choice(body.function_call)
    elif isinstance(tool_choice, dict):
        name = (tool_choice.get("function") or {}).get("name")
        if not name:
            raise InvalidRequest("tool_choice.function.name is required", param="tool_choice")
        tool_choice = {"name": name}
    elif tool_choice is not None and tool_choice not in ("auto", "none", "required"):
        raise InvalidRequest("tool_choice must be auto, none, required or a function", param="tool_choice")
    if body.top_logprobs is not None and not body.logprobs:
        raise InvalidRequest("top_logprobs requires logprobs: true", param="top_logprobs")
    messages = [_message(m, i) for i, m in enumerate(body.messages)]
    functions.pair_results(messages)
    legacy, legacy_tools = functions.uses_functions(body), functions.tools(body)
    return ChatRequest(
        model=body.model,
        messages=messages,
        stream=body.stream,
        temperature=body.temperature,
        top_p=body.top_p,
        top_k=body.top_k,
        max_tokens=body.max_completion_tokens or body.max_tokens,
        stop=stop,
        seed=body.seed,
        frequency_penalty=body.frequency_penalty,
        presence_penalty=body.presence_penalty,
        repetition_penalty=body.repetition_penalty,
        logprobs=bool(body.logprobs),
        top_logprobs=body.top_logprobs,
        thinking=thinking,
        thinking_budget=body.thinking_budget,
        tools=[
            ToolSpec(t.function.name, t.function.description or "", t.function.parameters or {})
            for t in body.tools or ()
        ]
        or legacy_tools,
        tool_choice=tool_choice,
        parallel_tool_calls=body.parallel_tool_calls is not False and not legacy,
        response_format=body.response_format.model_dump(exclude_none=True)
        if body.response_format and body.response_format.type != "text"
        else None,
        user=body.user,
        session_id=session_id,
        tenant=tenant,
        extra={"reasoning_effort": body.reasoning_effort} if body.reasoning_effort else {},
    )


def logprobs_body(logprobs: list[TokenLogprob] | None) -> dict[str, Any] | None:
    """A choice's `logprobs`: null unless the upstream reported some (the web kind never does)."""
    return {"content": logprobs, "refusal": None} if logprobs else None


def usage_body(usage: Usage) -> dict[str, Any]:
    body: dict[str, Any] = {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }
    if usage.reasoning_tokens:
        body["completion_tokens_details"] = {"reasoning_tokens": usage.reasoning_tokens}
    return body


class ChunkWriter:
    """Turns neutral events into `chat.completion.chunk` SSE lines."""

    def __init__(self, model: str, include_usage: bool, *, legacy_functions: bool = False) -> None:
        self.id = f"chatcmpl-{hex_id()}"
        self.created = int(time.time())
        self.model = model
        self.include_usage = include_usage
        self.legacy_functions = legacy_functions  # answer in the deprecated `function_call` shape
        self._role_sent = False
        self._prefix = (
            b'{"id":"'
            + self.id.encode()
            + b'","object":"chat.completion.chunk","created":'
            + str(self.created).encode()
            + b',"model":'
            + orjson.dumps(model)
            + b',"choices":'
        )

    def _line(self, choices: bytes, usage: bytes = b"") -> bytes:
        # with include_usage, OpenAI sends `"usage": null` on every chunk but the last
        tail = b',"usage":' + (usage or b"null") if self.include_usage else b""
        return b"data: " + self._prefix + choices + tail + b"}\n\n"

    def _delta(
        self, delta: dict[str, Any], finish: str | None = None, logprobs: list[TokenLogprob] | None = None
    ) -> bytes:
        if not self._role_sent:
            delta = {"role": "assistant", **delta}
            self._role_sent = True
        choice = {"index": 0, "delta": delta, "logprobs": logprobs_body(logprobs), "finish_reason": finish}
        return self._line(orjson.dumps([choice]))

    def event(self, event: Event, usage_holder: list[Usage]) -> bytes:
        if isinstance(event, TextDelta):
            return self._delta({"content": event.text}, logprobs=event.logprobs)
        if isinstance(event, ThinkingDelta):
            return self._delta({"reasoning_content": event.text})
        if isinstance(event, ToolCallStart) and self.legacy_functions:
            return self._delta({"function_call": {"name": event.name, "arguments": ""}})
        if isinstance(event, ToolCallDelta) and self.legacy_functions:
            return self._delta({"function_call": {"arguments": event.arguments}})
        if isinstance(event, ToolCallStart):
            return self._delta(
                {
                    "tool_calls": [
                        {
                            "index": event.index,
                            "id": event.id,
                            "type": "function",
                            "function": {"name": event.name, "arguments": ""},
                        }
                    ]
                }
            )
        if isinstance(event, ToolCallDelta):
            return self._delta(
                {"tool_calls": [{"index": event.index, "function": {"arguments": event.arguments}}]}
            )
        if isinstance(event, Usage):
            usage_holder.append(event)
            return b""
        if isinstance(event, Finish):
            out = self._delta({}, _finish_reason(event, self.legacy_functions))
            if self.include_usage and usage_holder:
                out += self._line(b"[]", orjson.dumps(usage_body(usage_holder[-1])))
            return out
        return b""


def _finish_reason(finish: Finish, legacy_functions: bool) -> str:
    reason = FINISH.get(finish.reason, "stop")
    return "function_call" if legacy_functions and reason == "tool_calls" else reason


async def collect(
    first: Event, events: AsyncIterator[Event], model: str, *, legacy_functions: bool = False
) -> dict[str, Any]:
    """The non-streaming body: the same events, gathered (`first` was already taken from `events`)."""
    text: list[str] = []
    reasoning: list[str] = []
    logprobs: list[TokenLogprob] = []
    calls: dict[int, dict[str, Any]] = {}
    usage = Usage()
    finish = Finish()

    def take(event: Event) -> None:
        nonlocal usage, finish
        if isinstance(event, TextDelta):
            text.append(event.text)
            logprobs.extend(event.logprobs or ())
        elif isinstance(event, ThinkingDelta):
            reasoning.append(event.text)
        elif isinstance(event, ToolCallStart):
            calls[event.index] = {
                "id": event.id,
                "type": "function",
                "function": {"name": event.name, "arguments": ""},
            }
        elif isinstance(event, ToolCallDelta):
            calls[event.index]["function"]["arguments"] += event.arguments
        elif isinstance(event, Usage):
            usage = event
        elif isinstance(event, Finish):
            finish = event

    take(first)
    async for event in events:
        take(event)
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) if text or not calls else None}
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    if calls and legacy_functions:
        message["function_call"] = calls[min(calls)]["function"]
    elif calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    return {
        "id": f"chatcmpl-{hex_id()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": logprobs_body(logprobs),
                "finish_reason": _finish_reason(finish, legacy_functions),
            }
        ],
        "usage": usage_body(usage),
    }
