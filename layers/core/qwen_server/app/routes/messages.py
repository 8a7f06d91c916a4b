"""POST /v1/messages and /v1/messages/count_tokens (Anthropic).

A streamed answer waits for its first event for up to one ping interval before answering: failures in
that window (the queue is full, every account failed fast) still become an HTTP error with the right
status. When the upstream is slower than that the stream starts anyway (`message_start`, `ping`) so the
client sees bytes, and a later failure arrives as an `error` event.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from qwen_server.api.anthropic.collect import collect
from qwen_server.api.anthropic.count import count_input_tokens
from qwen_server.api.anthropic.events import MessageEvents
from qwen_server.api.anthropic.keepalive import with_pings
from qwen_server.api.anthropic.mapping import (
    neutral_messages,
    neutral_tool_choice,
    neutral_tools,
    thinking_choice,
    to_neutral,
    web_search_of,
)
from qwen_server.api.anthropic.schemas import CountTokensRequest, MessagesRequest
from qwen_server.api.anthropic.stream import sse_message
from qwen_server.api.anthropic.web_search import honour
from qwen_server.api.validation import validate
from qwen_server.app.access import admit, meter
from qwen_server.app.auth import session_id, tenant_for
from qwen_server.app.disconnect import ClientClosedRequest, DeadlineStreamingResponse, unless_client_leaves
from qwen_server.app.http import JSONBytes, read_json
from qwen_server.app.runtime import runtime_of
from qwen_server.core.errors import UpstreamError
from qwen_server.core.modes import mode_from_name

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


async def create_message(request: Request) -> Response:
    runtime = await runtime_of(request)
    tenant = await admit(request, runtime)
    body = validate(MessagesRequest, await read_json(request, runtime.settings.max_request_bytes))
    request.state.log.update(model=body.model, stream=body.stream)
    user = body.metadata.user_id if body.metadata else None
    neutral = to_neutral(body, tenant=tenant, session_id=session_id(request, user))
    search = web_search_of(body)
    neutral.model, alias_thinking = await runtime.gateway.resolve_model(body.model, neutral)
    mode_from_name(neutral, runtime.gateway.catalog, body.model)
    if alias_thinking is not None and body.thinking is None:
        neutral.thinking = alias_thinking
    translator = MessageEvents(
        body.model,
        # message_start's figure is indicative (message_delta carries the upstream's): never wait for it
        count_input_tokens(neutral.messages, neutral.tools, wait=False),
        omit_thinking=thinking_choice(body).omit_text,
        search=search,
    )
    events = meter(request, runtime, tenant, runtime.gateway.stream(neutral))
    if search is not None:
        events = honour(events, search)
    if not body.stream:
        return JSONBytes(await unless_client_leaves(request, collect(events, translator)))
    items = with_pings(events, runtime.settings.anthropic_ping_interval)
    try:
        # an event, a ping (slow upstream or a long queue), or the failure as an HTTP error
        first = await unless_client_leaves(request, anext(items))
    except StopAsyncIteration:
        raise UpstreamError("the upstream ended the answer without a single event") from None
    except ClientClosedRequest:
        await items.aclose()  # leaves the queue / frees the account slot
        raise
    return DeadlineStreamingResponse(
        sse_message(first, items, translator),
        media_type="text/event-stream",
        headers=SSE_HEADERS,
        write_timeout=runtime.settings.stream_write_timeout,
    )


async def count_tokens(request: Request) -> Response:
    runtime = await runtime_of(request)
    tenant_for(request, runtime.settings.gateway_keys())
    body = validate(CountTokensRequest, await read_json(request, runtime.settings.max_request_bytes))
    request.state.log.update(model=body.model)
    tools = neutral_tools(body)
    neutral_tool_choice(body, tools)  # validated like a real request, though it costs no tokens here
    messages = neutral_messages(body)
    await runtime.gateway.resolve_model(body.model)  # an unknown model is a 404 here too
    return JSONBytes({"input_tokens": count_input_tokens(messages, tools)})
