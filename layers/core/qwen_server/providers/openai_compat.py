"""Any OpenAI-compatible upstream (self-hosted Qwen servers, DashScope's compatible mode, other gateways).

The differences between such upstreams are data, not code: `DIALECTS` lists, per account kind, how the
neutral request's switches are spelled in the body. One generic function builds the body from that row.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson

from qwen_server.core import cleanup
from qwen_server.core.errors import (
    GatewayError,
    UpstreamAuthError,
    UpstreamBadRequest,
    UpstreamError,
    UpstreamForbidden,
    UpstreamModelNotFound,
    UpstreamRateLimited,
    UpstreamUnknownError,
)
from qwen_server.core.model import (
    ChatRequest,
    Event,
    Finish,
    ImagePart,
    Message,
    TextDelta,
    TextPart,
    ThinkingDelta,
    Usage,
)
from qwen_server.core.sse import SSEParser
from qwen_server.providers.base import Account, ModelInfo
from qwen_server.providers.http import ClientRegistry, drain, translate_transport_error

# kind -> how thinking is switched on. `explicit_off`: also send `false` (DashScope models may default to on);
# generic servers get the switch only when thinking was asked for, so strict servers never see it otherwise.
DIALECTS: dict[str, dict[str, Any]] = {
    "openai": {
        "thinking_field": "enable_thinking",
        "budget_field": None,
        "explicit_off": False,
        "reasoning_effort": True,
    },
    "dashscope": {
        "thinking_field": "enable_thinking",
        "budget_field": "thinking_budget",
        "explicit_off": True,
        "reasoning_effort": False,
    },
}
FINISH_REASONS = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
}


def message_to_openai(message: Message) -> dict[str, Any]:
    if all(isinstance(p, TextPart) for p in message.parts):
        content: Any = message.text
    else:
        content = [
            {"type": "text", "text": p.text}
            if isinstance(p, TextPart)
            else {"type": "image_url", "image_url": {"url": p.url}}
            for p in message.parts
            if isinstance(p, TextPart | ImagePart)
        ]
    out: dict[str, Any] = {"role": message.role, "content": content}
    if message.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    if message.tool_call_id:
        out["tool_call_id"] = message.tool_call_id
    return out


def build_body(request: ChatRequest, kind: str) -> dict[str, Any]:
    dialect = DIALECTS.get(kind, DIALECTS["openai"])
    messages = [message_to_openai(m) for m in request.messages]
    system_extra = request.extra.get("system_extra")
    if system_extra:
        messages.insert(0, {"role": "system", "content": system_extra})
    body: dict[str, Any] = {"model": request.model, "messages": messages, "stream": True}
    body["stream_options"] = {"include_usage": True}
    for name in ("temperature", "top_p", "seed", "max_tokens", "user"):
        value = getattr(request, name)
        if value is not None:
            body[name] = value
    if request.stop:
        body["stop"] = request.stop
    if dialect["thinking_field"] and (request.thinking or dialect["explicit_off"]):
        body[dialect["thinking_field"]] = request.thinking
        if request.thinking and request.thinking_budget and dialect["budget_field"]:
            body[dialect["budget_field"]] = request.thinking_budget
    if dialect["reasoning_effort"] and request.extra.get("reasoning_effort"):
        body["reasoning_effort"] = request.extra["reasoning_effort"]
    return body


# An error object's `code` / `type` (lower-cased) -> the product's error, first match wins. A code that matches
# nothing is `UpstreamUnknownError`: not retried, not held against the account.
ERROR_CODES: tuple[tuple[tuple[str, ...], type[GatewayError]], ...] = (
    (("rate_limit", "ratelimit", "throttl", "too_many", "quota"), UpstreamRateLimited),
    (
        ("accessdenied", "access_denied", "unauthorized", "invalid_api_key", "permission", "forbidden"),
        UpstreamForbidden,
    ),
    (("server_error", "internal", "overloaded", "unavailable", "timeout", "upstream_error"), UpstreamError),
    (
        ("invalid_request", "invalid_parameter", "content_filter", "data_inspection", "context_length"),
        UpstreamBadRequest,
    ),
)


def _error_fields(raw: bytes) -> tuple[str, str]:
    """(code and type, message) of an error body: OpenAI's `{"error": {...}}` or DashScope's flat object."""
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "", ""
    if not isinstance(payload, dict):
        return "", ""
    err = payload.get("error", payload)
    if not isinstance(err, dict):
        return "", str(err or "")[:300]
    code = " ".join(str(err.get(k) or "") for k in ("code", "type")).strip()
    return code, str(err.get("message") or "")[:300]


def classify_error_object(err: Any) -> GatewayError:
    """An error object inside a 200 answer (a stream chunk or a JSON body), by its code and type."""
    fields = err if isinstance(err, dict) else {"message": err}
    code = " ".join(str(fields.get(k) or "") for k in ("code", "type")).strip()
    shown = "upstream error" + (f" {code}" if code else "") + f": {str(fields.get('message'))[:300]}"
    lowered = code.lower()
    for needles, error in ERROR_CODES:
        if any(n in lowered for n in needles):
            return error(shown)
    return UpstreamUnknownError(shown)


def classify(status: int, raw: bytes, headers: httpx.Headers) -> GatewayError:
    """An HTTP error answer. A 401/403 is `UpstreamForbidden`: the key may be fine and only this model
    refused (DashScope's `AccessDenied.Unpurchased`); `verify` settles which."""
    code, message = _error_fields(raw)
    detail = ": ".join(part for part in (code, message) if part)
    shown = f"upstream HTTP {status}" + (f": {detail}" if detail else "")
    retry_after = headers.get("retry-after")
    if status == 429:
        return UpstreamRateLimited(
            shown, retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None
        )
    if status in (401, 403):
        return UpstreamForbidden(shown)
    if status == 404 and "model" in message.lower():
        return UpstreamModelNotFound(shown)
    if status >= 500:
        return UpstreamError(shown)
    return UpstreamBadRequest(shown, status=status if status in (400, 413, 422) else None)


class OpenAICompatProvider:
    def __init__(self, clients: ClientRegistry) -> None:
        self._clients = clients

    @staticmethod
    def _headers(account: Account) -> dict[str, str]:
        return {"Authorization": f"Bearer {account.api_key}", "Content-Type": "application/json"}

    async def list_models(self, account: Account) -> list[ModelInfo]:
        client = self._clients.get(account.base_url)
        try:
            response = await client.get(f"{account.base_url}/models", headers=self._headers(account))
        except httpx.HTTPError as exc:
            raise translate_transport_error(exc, "upstream") from None
        if response.status_code >= 400:
            raise classify(response.status_code, response.content, response.headers)
        try:
            payload = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise UpstreamError("upstream listed its models in a body that is not JSON") from None
        items = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(items, list):
            raise UpstreamError("upstream listed its models without a `data` list")
        return [
            ModelInfo(id=str(m["id"]), owned_by=str(m.get("owned_by") or "upstream"))
            for m in items
            if isinstance(m, dict) and m.get("id")
        ]

    async def verify(self, account: Account) -> None:
        """`GET {base_url}/models`: the cheapest call that needs the key and no model entitlement."""
        client = self._clients.get(account.base_url)
        try:
            response = await client.get(f"{account.base_url}/models", headers=self._headers(account))
        except httpx.HTTPError as exc:
            raise translate_transport_error(exc, "upstream") from None
        if response.status_code in (401, 403):
            raise UpstreamAuthError(
                f"account {account.name}: the API key was refused by {account.base_url}/models "
                f"(HTTP {response.status_code})"
            )
        if response.status_code >= 400:
            raise classify(response.status_code, response.content, response.headers)

    async def stream(self, request: ChatRequest, account: Account) -> AsyncIterator[Event]:
        """Streams from the upstream when the client streams; otherwise asks for one JSON body (fewer
        round trips on the wire) and yields the same events from it."""
        client = self._clients.get(account.base_url)
        payload = build_body(request, account.kind)
        if not request.stream:
            payload["stream"] = False
            payload.pop("stream_options", None)
        http_request = client.build_request(
            "POST",
            f"{account.base_url}/chat/completions",
            content=orjson.dumps(payload),
            headers=self._headers(account),
        )
        try:
            response = await client.send(http_request, stream=True)
        except httpx.HTTPError as exc:
            raise translate_transport_error(exc, "upstream") from None
        try:
            if response.status_code >= 400:
                raise classify(response.status_code, await response.aread(), response.headers)
            if "event-stream" not in response.headers.get("content-type", ""):
                try:
                    raw = await response.aread()
                except httpx.HTTPError as exc:
                    raise translate_transport_error(exc, "upstream") from None
                for event in _completion_events(raw):
                    yield event
                return
            state = _StreamState()
            parser = SSEParser()
            chunks = response.aiter_raw()
            try:
                async for piece in chunks:
                    for sse in parser.feed(piece):
                        for event in _chunk_events(sse.data, state):
                            yield event
                    if state.done:
                        break
                if not state.done:
                    for sse in parser.close():
                        for event in _chunk_events(sse.data, state):
                            yield event
            except httpx.HTTPError as exc:
                raise translate_transport_error(exc, "upstream") from None
            await drain(chunks)
            if state.usage is not None:
                yield state.usage
            if state.finish is not None:
                yield state.finish
        finally:
            await cleanup.complete(response.aclose())  # even while the request is being cancelled


class _StreamState:
    __slots__ = ("done", "finish", "usage")

    def __init__(self) -> None:
        self.done = False
        self.finish: Finish | None = None
        self.usage: Usage | None = None


def _usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict) or not raw:
        return None
    return Usage(int(raw.get("prompt_tokens") or 0), int(raw.get("completion_tokens") or 0))


def _chunk_events(data: str, state: _StreamState) -> list[Event]:
    """Events of one `chat.completion.chunk` (or of `[DONE]`)."""
    data = data.strip()
    if not data:
        return []
    if data == "[DONE]":
        state.done = True
        return []
    chunk = orjson.loads(data)
    if isinstance(chunk.get("error"), dict):
        raise classify_error_object(chunk["error"])
    state.usage = _usage(chunk.get("usage")) or state.usage
    events: list[Event] = []
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        if delta.get("reasoning_content"):
            events.append(ThinkingDelta(delta["reasoning_content"]))
        if delta.get("content"):
            events.append(TextDelta(delta["content"]))
        if choice.get("finish_reason"):
            state.finish = Finish(FINISH_REASONS.get(choice["finish_reason"], "stop"))  # type: ignore[arg-type]
    return events


def _completion_events(raw: bytes) -> list[Event]:
    """Events of one non-streamed `chat.completion` body."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise UpstreamError("upstream answered with a body that is not JSON") from None
    if not isinstance(body, dict):
        raise UpstreamError("upstream answered with an unexpected body")
    if isinstance(body.get("error"), dict):
        raise classify_error_object(body["error"])
    events: list[Event] = []
    finish: Finish | None = None
    for choice in body.get("choices") or ():
        message = choice.get("message") or {}
        if message.get("reasoning_content"):
            events.append(ThinkingDelta(message["reasoning_content"]))
        if message.get("content"):
            events.append(TextDelta(message["content"]))
        if choice.get("finish_reason"):
            finish = Finish(FINISH_REASONS.get(choice["finish_reason"], "stop"))  # type: ignore[arg-type]
        break  # one choice: the gateway never asks for more
    usage = _usage(body.get("usage"))
    if usage is not None:
        events.append(usage)
    if finish is not None:
        events.append(finish)
    return events
