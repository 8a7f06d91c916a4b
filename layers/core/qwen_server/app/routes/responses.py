"""POST /v1/responses, GET / DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items (OpenAI).

The Responses API is one more mapping over the gateway's neutral stream (`api/responses/`); stored
responses live in the state store, per tenant. Failures before the first event are HTTP errors in OpenAI's
shape; after it, a streamed response ends with `response.failed`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from qwen_server.api.responses.events import ResponseEvent, ResponseEvents, new_response_id
from qwen_server.api.responses.mapping import normalize, to_neutral
from qwen_server.api.responses.schemas import ResponsesRequest
from qwen_server.api.responses.storage import ResponseStore, next_context
from qwen_server.api.validation import validate
from qwen_server.app.access import admit, meter
from qwen_server.app.auth import session_id, tenant_for
from qwen_server.app.disconnect import DeadlineStreamingResponse, unless_client_leaves
from qwen_server.app.http import JSONBytes, read_json
from qwen_server.app.runtime import Runtime, runtime_of
from qwen_server.core import cleanup
from qwen_server.core.errors import GatewayError, InvalidRequest, NotFound
from qwen_server.core.model import Event, Flush
from qwen_server.core.modes import mode_from_name

log = logging.getLogger("qwen_server")

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def _storage(runtime: Runtime) -> ResponseStore:
    return ResponseStore(runtime.store, runtime.settings.responses_ttl_seconds)


def _envelope(body: ResponsesRequest) -> dict[str, Any]:
    """The request's options as the response object echoes them."""
    fmt = (
        body.text.format.model_dump(by_alias=True, exclude_none=True)
        if body.text and body.text.format
        else None
    )
    return {
        "id": new_response_id(),
        "model": body.model,
        "instructions": body.instructions,
        "max_output_tokens": body.max_output_tokens,
        "metadata": body.metadata or {},
        "parallel_tool_calls": body.parallel_tool_calls is not False,
        "previous_response_id": body.previous_response_id,
        "reasoning": {
            "effort": body.reasoning.effort if body.reasoning else None,
            "summary": (body.reasoning.summary or body.reasoning.generate_summary)
            if body.reasoning
            else None,
        },
        "store": body.store is not False,
        "temperature": body.temperature if body.temperature is not None else 1.0,
        "text": {"format": fmt or {"type": "text"}},
        "tool_choice": body.tool_choice or "auto",
        "tools": body.tools or [],
        "top_p": body.top_p if body.top_p is not None else 1.0,
        "truncation": body.truncation or "disabled",
        "user": body.user,
    }


async def create_response(request: Request) -> Response:
    runtime = await runtime_of(request)
    tenant = await admit(request, runtime)
    body = validate(ResponsesRequest, await read_json(request, runtime.settings.max_request_bytes))
    request.state.log.update(model=body.model, stream=body.stream)
    storage = _storage(runtime)
    items = await storage.resolve_references(tenant, normalize(body.input))
    inherited: list[dict[str, Any]] = []
    if body.previous_response_id:
        record = await storage.get(tenant, body.previous_response_id)
        if record is None:
            raise InvalidRequest(
                f"Previous response with id '{body.previous_response_id}' not found.",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        inherited = list(record.get("context") or [])
    neutral = to_neutral(body, [*inherited, *items], tenant=tenant, session_id=session_id(request, body.user))
    neutral.model, alias_thinking = await runtime.gateway.resolve_model(body.model, neutral)
    if alias_thinking is not None and body.reasoning is None:
        neutral.thinking = alias_thinking
    mode_from_name(neutral, runtime.gateway.catalog, body.model)
    translator = ResponseEvents(_envelope(body))
    events = meter(request, runtime, tenant, runtime.gateway.stream(neutral))
    first = await unless_client_leaves(request, anext(events))

    async def save() -> None:
        if body.store is not False:
            response = translator.response
            await storage.save(tenant, response, items, next_context(inherited, items, response))

    if not body.stream:
        await unless_client_leaves(request, _collect(first, events, translator))
        await save()
        return JSONBytes(translator.response)
    return DeadlineStreamingResponse(
        _sse(first, events, translator, save),
        media_type="text/event-stream",
        headers=SSE_HEADERS,
        write_timeout=runtime.settings.stream_write_timeout,
    )


async def _collect(first: Event, events: AsyncIterator[Event], translator: ResponseEvents) -> None:
    """The non-streamed response: the same events, only the final object kept."""
    translator.start()
    translator.feed(first)
    async for event in events:
        translator.feed(event)
    translator.end()


def _line(event: ResponseEvent) -> bytes:
    return b"event: " + str(event["type"]).encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


async def _sse(
    first: Event,
    events: AsyncIterator[Event],
    translator: ResponseEvents,
    save: Callable[[], Awaitable[None]],
) -> AsyncIterator[bytes]:
    """The SSE body. Once the upstream marks its reads (`Flush`), the events of one read go out as one write."""
    yield b"".join(_line(e) for e in translator.start())
    gathered: list[bytes] = []
    batching = False
    try:
        for e in translator.feed(first):
            yield _line(e)
        async for event in events:
            if isinstance(event, Flush):
                batching = True
                if gathered:
                    yield b"".join(gathered)
                    gathered.clear()
                continue
            lines = [_line(e) for e in translator.feed(event)]
            if batching:
                gathered += lines
            elif lines:
                yield b"".join(lines)
        gathered += [_line(e) for e in translator.end()]
    except GatewayError as exc:
        gathered += [_line(e) for e in translator.fail(exc)]
    except Exception:
        log.exception("the response stream failed after its first byte")
        failure = GatewayError("The gateway hit an unexpected error; it was logged with this request's id.")
        failure.code = "server_error"
        gathered += [_line(e) for e in translator.fail(failure)]
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await cleanup.complete(aclose())
    try:
        await save()
    except GatewayError as exc:
        log.warning("the response %s was not stored: %s", translator.id, exc.message)
    yield b"".join(gathered)


async def _record(request: Request) -> tuple[Runtime, str, str, dict[str, Any]]:
    runtime = await runtime_of(request)
    tenant = tenant_for(request, runtime.settings.gateway_keys())
    response_id = request.path_params["response_id"]
    record = await _storage(runtime).get(tenant, response_id)
    if record is None:
        raise NotFound(f"No response found with id '{response_id}'.", param="response_id", code="not_found")
    return runtime, tenant, response_id, record


async def get_response(request: Request) -> Response:
    _, _, _, record = await _record(request)
    return JSONBytes(record["response"])


async def delete_response(request: Request) -> Response:
    runtime, tenant, response_id, _ = await _record(request)
    await _storage(runtime).delete(tenant, response_id)
    return JSONBytes({"id": response_id, "object": "response", "deleted": True})


async def list_input_items(request: Request) -> Response:
    _, _, _, record = await _record(request)
    items: list[dict[str, Any]] = list(record.get("input") or [])
    order = request.query_params.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidRequest("order must be asc or desc", param="order")
    try:
        limit = int(request.query_params.get("limit", "20"))
    except ValueError:
        raise InvalidRequest("limit must be an integer from 1 to 100", param="limit") from None
    if not 1 <= limit <= 100:
        raise InvalidRequest("limit must be an integer from 1 to 100", param="limit")
    if order == "desc":
        items.reverse()
    after = request.query_params.get("after")
    if after:
        ids = [item.get("id") for item in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    page = items[:limit]
    return JSONBytes(
        {
            "object": "list",
            "data": page,
            "first_id": page[0].get("id") if page else None,
            "last_id": page[-1].get("id") if page else None,
            "has_more": len(items) > limit,
        }
    )
