"""One batch line through the same pipeline as a live request (pool, failover, tools, multimodal), admitted
in the `batch` scheduler class, answered as the API's own body.

A line's outcome is a plain dict, stored once: `{"custom_id", "ok", "status", "body", "request_id"}`, where
`body` is the response (OpenAI's chat completion, Anthropic's message) or the API's error body.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from qwen_server.core import cleanup
from qwen_server.core.errors import GatewayError, InvalidRequest
from qwen_server.core.ids import hex_id

if TYPE_CHECKING:
    from qwen_server.batches.services import BatchServices

log = logging.getLogger("qwen_server")
Outcome = dict[str, Any]
LineRunner = Callable[["BatchServices", str, dict[str, Any]], Awaitable[dict[str, Any]]]


async def openai_chat(work: BatchServices, tenant: str, body: dict[str, Any]) -> dict[str, Any]:
    """A `/v1/chat/completions` body, answered as the non-streaming completion (streaming is refused)."""
    from qwen_server.api.openai.functions import uses_functions
    from qwen_server.api.openai.mapping import collect, to_neutral
    from qwen_server.api.openai.schemas import ChatCompletionRequest
    from qwen_server.api.validation import validate

    if body.get("stream"):
        raise InvalidRequest(
            "Streaming is not available in a batch: leave `stream` unset", param="body.stream"
        )
    request = validate(ChatCompletionRequest, body)
    neutral = to_neutral(request, tenant=tenant, session_id=request.user)
    neutral.model, alias_thinking = await work.gateway.resolve_model(request.model, neutral)
    if alias_thinking is not None and request.enable_thinking is None and request.reasoning_effort is None:
        neutral.thinking = alias_thinking
    events = work.gateway.stream(neutral, "batch")
    try:
        first = await anext(events)
        return await collect(first, events, request.model, legacy_functions=uses_functions(request))
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await cleanup.complete(aclose())


async def anthropic_message(work: BatchServices, tenant: str, params: dict[str, Any]) -> dict[str, Any]:
    """A Messages request's `params`, answered as the non-streaming message."""
    from qwen_server.api.anthropic.collect import collect
    from qwen_server.api.anthropic.count import count_input_tokens
    from qwen_server.api.anthropic.events import MessageEvents
    from qwen_server.api.anthropic.mapping import thinking_choice, to_neutral
    from qwen_server.api.anthropic.schemas import MessagesRequest
    from qwen_server.api.validation import validate

    if params.get("stream"):
        raise InvalidRequest(
            "Streaming is not available in a batch: leave `stream` unset", param="params.stream"
        )
    request = validate(MessagesRequest, params)
    user = request.metadata.user_id if request.metadata else None
    neutral = to_neutral(request, tenant=tenant, session_id=user)
    neutral.model, alias_thinking = await work.gateway.resolve_model(request.model, neutral)
    if alias_thinking is not None and request.thinking is None:
        neutral.thinking = alias_thinking
    translator = MessageEvents(
        request.model,
        count_input_tokens(neutral.messages, neutral.tools, wait=False),
        omit_thinking=thinking_choice(request).omit_text,
    )
    return await collect(work.gateway.stream(neutral, "batch"), translator)


async def run_line(work: BatchServices, api: str, endpoint: str, tenant: str, line: dict[str, Any]) -> Outcome:
    """Run one parsed line; every failure becomes the line's error outcome, never the worker's."""
    request_id = f"req_{hex_id()}"
    custom_id = line.get("custom_id")
    try:
        if api == "openai":
            body = await OPENAI_ENDPOINTS[endpoint](work, tenant, line.get("body") or {})
        else:
            body = await anthropic_message(work, tenant, line.get("params") or {})
        return {"custom_id": custom_id, "ok": True, "status": 200, "body": body, "request_id": request_id}
    except GatewayError as exc:
        return _failed(api, exc, custom_id, request_id)
    except Exception:  # a bug in one line must not stop the batch: it is that line's 500, and logged
        log.exception("batch line %s failed unexpectedly (request %s)", custom_id, request_id)
        error = GatewayError("The gateway hit an unexpected error; it was logged with this request's id.")
        error.code = "internal_error"
        return _failed(api, error, custom_id, request_id)


def _failed(api: str, exc: GatewayError, custom_id: Any, request_id: str) -> Outcome:
    if api == "openai":
        from qwen_server.api.openai.errors import openai_error_body

        return {
            "custom_id": custom_id,
            "ok": False,
            "status": exc.status,
            "body": openai_error_body(exc),
            "request_id": request_id,
        }
    from qwen_server.api.anthropic.errors import anthropic_error_body, anthropic_status

    return {
        "custom_id": custom_id,
        "ok": False,
        "status": anthropic_status(exc),
        "body": anthropic_error_body(exc),
        "request_id": request_id,
    }


async def openai_completion(work: BatchServices, tenant: str, body: dict[str, Any]) -> dict[str, Any]:
    """A legacy `/v1/completions` body, answered as the non-streaming completion."""
    from qwen_server.api.openai.completions import CompletionRequest, collect, prompt_text, to_neutral
    from qwen_server.api.validation import validate

    if body.get("stream"):
        raise InvalidRequest(
            "Streaming is not available in a batch: leave `stream` unset", param="body.stream"
        )
    request = validate(CompletionRequest, body)
    neutral = to_neutral(request, tenant=tenant, session_id=request.user)
    neutral.model, _ = await work.gateway.resolve_model(request.model, neutral)
    events = work.gateway.stream(neutral, "batch")
    try:
        first = await anext(events)
        return await collect(first, events, request.model, prompt_text(request) if request.echo else "")
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await cleanup.complete(aclose())


async def openai_embeddings(work: BatchServices, tenant: str, body: dict[str, Any]) -> dict[str, Any]:
    """An `/v1/embeddings` body, on the accounts that serve embeddings, in the `batch` class."""
    from qwen_server.audio import embeddings

    return await embeddings.run(work.gateway, work.clients, tenant, embeddings.parse(body), "batch")


# every endpoint the gateway serves that a batch may name, and how one of its lines runs
OPENAI_ENDPOINTS: dict[str, LineRunner] = {
    "/v1/chat/completions": openai_chat,
    "/v1/completions": openai_completion,
    "/v1/embeddings": openai_embeddings,
}
