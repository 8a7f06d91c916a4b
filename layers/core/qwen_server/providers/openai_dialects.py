"""The request body an OpenAI-compatible upstream is sent, built from the neutral request by one function.

The differences between such upstreams are data, not code: `DIALECTS` lists, per account kind, how the
neutral request's switches and sampling parameters are spelled in the body (or that the upstream has none,
so they are not sent). Tools, `tool_choice`, `response_format` and logprobs go through natively: these
upstreams run the model's own tool-calling template, so no prompt engineering is needed in front of them.

Media go as native content parts, never flattened to text (`media_part`): images as `image_url`, audio as
`input_audio`, video as DashScope's `video_url`, documents as OpenAI's `file` (plain text as text). By then
the gateway has read every client URL itself (`media.fetch`), so parts carry data: URLs: no upstream is
asked to fetch a client-given address from inside its own network.
"""

from __future__ import annotations

import base64
from typing import Any

from qwen_server.core.model import ChatRequest, MediaPart, Message, TextPart, ToolSpec

# neutral `ChatRequest` field -> body key; None: the upstream has no such parameter, so it is not sent.
_COMMON_PARAMS: dict[str, str | None] = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",  # not OpenAI's own, but vLLM, SGLang, llama.cpp and DashScope read it at the top level
    "seed": "seed",
    "max_tokens": "max_tokens",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
    "repetition_penalty": None,
    "user": "user",
}

# kind -> how thinking is switched on. `explicit_off`: also send `false` (DashScope models may default to on);
# generic servers get the switch only when thinking was asked for, so strict servers never see it otherwise.
DIALECTS: dict[str, dict[str, Any]] = {
    "openai": {
        "thinking_field": "enable_thinking",
        "budget_field": None,
        "explicit_off": False,
        "reasoning_effort": True,
        "params": _COMMON_PARAMS,
        "tool_choice_modes": {},  # a tool_choice mode the upstream lacks -> the one sent instead
        "audio_data": "base64",  # input_audio.data: OpenAI's bare base64 with a `format`
    },
    "dashscope": {
        "thinking_field": "enable_thinking",
        "budget_field": "thinking_budget",
        "explicit_off": True,
        "reasoning_effort": False,
        "params": {**_COMMON_PARAMS, "repetition_penalty": "repetition_penalty"},
        # DashScope knows auto, none and a named function, not "required": the gateway checks for a call
        "tool_choice_modes": {"required": "auto"},
        "audio_data": "data_url",  # DashScope reads input_audio.data as a data: (or http) URL
    },
}


# audio media type -> input_audio.format
AUDIO_FORMATS = {
    "audio/wav": "wav",
    "audio/mpeg": "mp3",
    "audio/flac": "flac",
    "audio/ogg": "ogg",
    "audio/mp4": "m4a",
}


def _data_url(part: MediaPart) -> str:
    if part.data is None:  # not resolved: only a URL the gateway did not read (never a client's)
        return part.url or ""
    return (
        f"data:{part.media_type or 'application/octet-stream'};base64,{base64.b64encode(part.data).decode()}"
    )


def media_part(part: MediaPart, audio_data: str = "base64") -> dict[str, Any]:
    """One media part in the OpenAI content-part shape."""
    if part.kind == "image":
        image: dict[str, Any] = {"url": _data_url(part)}
        if part.detail:
            image["detail"] = part.detail
        return {"type": "image_url", "image_url": image}
    if part.kind == "audio":
        audio_format = AUDIO_FORMATS.get(part.media_type or "", "wav")
        if audio_data == "base64" and part.data is not None:
            data = base64.b64encode(part.data).decode()
        else:
            data = _data_url(part)
        return {"type": "input_audio", "input_audio": {"data": data, "format": audio_format}}
    if part.kind == "video":
        return {"type": "video_url", "video_url": {"url": _data_url(part)}}
    if part.data is not None and (part.media_type or "").startswith("text/"):
        return {"type": "text", "text": part.data.decode("utf-8", errors="replace")}
    return {"type": "file", "file": {"filename": part.filename or "document", "file_data": _data_url(part)}}


def message_to_openai(message: Message, audio_data: str = "base64") -> dict[str, Any]:
    if all(isinstance(p, TextPart) for p in message.parts):
        content: Any = message.text
    else:
        content = [
            {"type": "text", "text": p.text} if isinstance(p, TextPart) else media_part(p, audio_data)
            for p in message.parts
        ]
    out: dict[str, Any] = {"role": message.role, "content": content}
    if message.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    if message.tool_call_id:
        out["tool_call_id"] = message.tool_call_id
    if message.name and message.role != "tool":
        out["name"] = message.name  # who said it, as the client sent it
    return out


def tool_to_openai(tool: ToolSpec) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name}
    if tool.description:
        function["description"] = tool.description
    if tool.parameters:  # omitted: a function without parameters, as OpenAI defines it
        function["parameters"] = tool.parameters
    return {"type": "function", "function": function}


def tool_choice_to_openai(choice: str | dict[str, Any], modes: dict[str, str]) -> str | dict[str, Any]:
    """The neutral `{"name": ...}` back to OpenAI's named-function form; a mode as the dialect spells it."""
    if isinstance(choice, dict):
        return {"type": "function", "function": {"name": choice["name"]}}
    return modes.get(choice, choice)


def build_body(request: ChatRequest, kind: str) -> dict[str, Any]:
    dialect = DIALECTS.get(kind, DIALECTS["openai"])
    messages = [message_to_openai(m, dialect["audio_data"]) for m in request.messages]
    system_extra = request.extra.get("system_extra")
    if system_extra:
        messages.insert(0, {"role": "system", "content": system_extra})
    body: dict[str, Any] = {"model": request.model, "messages": messages, "stream": True}
    body["stream_options"] = {"include_usage": True}
    for name, key in dialect["params"].items():
        value = getattr(request, name)
        if key is not None and value is not None:
            body[key] = value
    if request.stop:
        body["stop"] = request.stop
    if request.tools:
        body["tools"] = [tool_to_openai(t) for t in request.tools]
        body["parallel_tool_calls"] = request.parallel_tool_calls
        if request.tool_choice is not None:
            body["tool_choice"] = tool_choice_to_openai(request.tool_choice, dialect["tool_choice_modes"])
    if request.response_format is not None:
        body["response_format"] = request.response_format
    if request.logprobs:
        body["logprobs"] = True
        if request.top_logprobs is not None:
            body["top_logprobs"] = request.top_logprobs
    if dialect["thinking_field"] and (request.thinking or dialect["explicit_off"]):
        body[dialect["thinking_field"]] = request.thinking
        if request.thinking and request.thinking_budget and dialect["budget_field"]:
            body[dialect["budget_field"]] = request.thinking_budget
    if dialect["reasoning_effort"] and request.extra.get("reasoning_effort"):
        body["reasoning_effort"] = request.extra["reasoning_effort"]
    return body
