"""POST /v1/chat/completions."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import orjson
from starlette.requests import Request
from starlette.responses import Response

from qwen_server.api.openai.errors import openai_error_body
from qwen_server.api.openai.functions import uses_functions
from qwen_server.api.openai.mapping import ChunkWriter, collect, to_neutral
from qwen_server.api.openai.schemas import ChatCompletionRequest
from qwen_server.api.validation import validate
from qwen_server.app.access import admit, meter
from qwen_server.app.auth import session_id
from qwen_server.app.disconnect import DeadlineStreamingResponse, unless_client_leaves
from qwen_server.app.http import JSONBytes, read_json
from qwen_server.app.runtime import runtime_of
from qwen_server.core import cleanup
from qwen_server.core.errors import GatewayError
from qwen_server.core.model import Event, Flush, Usage
from qwen_server.core.modes import mode_from_name

log = logging.getLogger("qwen_server")

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


async def chat_completions(request: Request) -> Response:
    runtime = await runtime_of(request)
    tenant = await admit(request, runtime)
    body = validate(ChatCompletionRequest, await read_json(request, runtime.settings.max_request_bytes))
    request.state.log.update(model=body.model, stream=body.stream)
    neutral = to_neutral(body, tenant=tenant, session_id=session_id(request, body.user))
    neutral.model, alias_thinking = await runtime.gateway.resolve_model(body.model, neutral)
    mode_from_name(neutral, runtime.gateway.catalog, body.model)
    if alias_thinking is not None and body.enable_thinking is None and body.reasoning_effort is None:
        neutral.thinking = alias_thinking
    events = meter(request, runtime, tenant, runtime.gateway.stream(neutral))
    # failures before the first byte become a proper error response; a client that leaves while this
    # request waits for a slot takes it out of the queue
    first = await unless_client_leaves(request, anext(events))
    if not body.stream:
        return JSONBytes(
            await unless_client_leaves(
                request, collect(first, events, body.model, legacy_functions=uses_functions(body))
            )
        )
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    writer = ChunkWriter(body.model, include_usage, legacy_functions=uses_functions(body))
    return DeadlineStreamingResponse(
        _sse(first, events, writer),
        media_type="text/event-stream",
        headers=SSE_HEADERS,
        write_timeout=runtime.settings.stream_write_timeout,
    )


async def _sse(first: Event, events: AsyncIterator[Event], writer: ChunkWriter) -> AsyncIterator[bytes]:
    """The SSE body. After the first byte an upstream failure can only be reported inside the stream.

    Once the upstream marks its reads (`Flush`), the chunks of one read go out as one write."""
    usage: list[Usage] = []
    gathered: list[bytes] = []
    batching = False
    try:
        yield writer.event(first, usage)
        async for event in events:
            if isinstance(event, Flush):
                batching = True
                if gathered:
                    yield b"".join(gathered)
                    gathered.clear()
                continue
            data = writer.event(event, usage)
            if not data:
                continue
            if batching:
                gathered.append(data)
            else:
                yield data
        yield b"".join(gathered) + DONE
    except GatewayError as exc:
        yield b"".join(gathered) + b"data: " + orjson.dumps(openai_error_body(exc)) + b"\n\n" + DONE
    except Exception:
        log.exception("the chat completion stream failed after its first byte")
        failure = GatewayError("The gateway hit an unexpected error; it was logged with this request's id.")
        failure.code = "internal_error"
        yield b"".join(gathered) + b"data: " + orjson.dumps(openai_error_body(failure)) + b"\n\n" + DONE
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await cleanup.complete(aclose())


DONE = b"data: [DONE]\n\n"
