"""POST /v1/completions (legacy text completions), for the clients that still default to it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from qwen_server.api.openai.completions import (
    CompletionChunks,
    CompletionRequest,
    collect,
    prompt_text,
    to_neutral,
)
from qwen_server.api.validation import validate
from qwen_server.app.access import admit, meter
from qwen_server.app.auth import session_id
from qwen_server.app.disconnect import DeadlineStreamingResponse, unless_client_leaves
from qwen_server.app.http import JSONBytes, read_json
from qwen_server.app.routes.chat import SSE_HEADERS, _sse
from qwen_server.app.runtime import runtime_of


async def completions(request: Request) -> Response:
    runtime = await runtime_of(request)
    tenant = await admit(request, runtime)
    body = validate(CompletionRequest, await read_json(request, runtime.settings.max_request_bytes))
    request.state.log.update(model=body.model, stream=body.stream)
    neutral = to_neutral(body, tenant=tenant, session_id=session_id(request, body.user))
    neutral.model, _ = await runtime.gateway.resolve_model(body.model, neutral)
    echo = prompt_text(body) if body.echo else ""
    events = meter(request, runtime, tenant, runtime.gateway.stream(neutral))
    first = await unless_client_leaves(request, anext(events))
    if not body.stream:
        return JSONBytes(await unless_client_leaves(request, collect(first, events, body.model, echo)))
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    writer = CompletionChunks(body.model, include_usage, echo)
    return DeadlineStreamingResponse(
        _sse(first, events, writer),  # type: ignore[arg-type]  # the same `event(event, usage)` writer
        media_type="text/event-stream",
        headers=SSE_HEADERS,
        write_timeout=runtime.settings.stream_write_timeout,
    )
