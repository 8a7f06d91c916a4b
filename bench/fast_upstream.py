"""A fast OpenAI-compatible upstream on aiohttp, for throughput benchmarks where the upstream must never be the
bottleneck. Answers are built once at start-up; each request only reads its body and checks `stream`.

python bench/fast_upstream.py --port 8100 [--chunks 20]

POST /v1/chat/completions (stream or not, `stream_options.include_usage` honoured), GET /v1/models, GET /health.
For refusals, key checks and odd model listings use bench/fake_openai.py (slower, more features).
"""

from __future__ import annotations

import argparse
import time

import orjson
from aio_serve import serve
from aiohttp import web

MODEL = "qwen3-max"


def _answers(chunks: int) -> tuple[bytes, list[bytes], bytes]:
    """The non-stream body, the stream's events, and the usage event (sent only when asked for)."""
    words = [f"w{i} " for i in range(chunks)]
    base = {"id": "chatcmpl-fast", "created": int(time.time()), "model": MODEL}
    usage = {"prompt_tokens": 10, "completion_tokens": chunks, "total_tokens": 10 + chunks}
    message = {"role": "assistant", "content": "".join(words)}
    whole = orjson.dumps(
        {
            **base,
            "object": "chat.completion",
            "usage": usage,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        }
    )
    chunk = {**base, "object": "chat.completion.chunk"}
    events = [
        b"data: "
        + orjson.dumps({**chunk, "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]})
        + b"\n\n"
        for w in words
    ]
    events.append(
        b"data: "
        + orjson.dumps({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        + b"\n\n"
    )
    usage_event = b"data: " + orjson.dumps({**chunk, "choices": [], "usage": usage}) + b"\n\n"
    return whole, events, usage_event


def build(chunks: int) -> web.Application:
    whole, events, usage_event = _answers(chunks)
    models = orjson.dumps({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "fast"}]})

    async def completions(request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        if not body.get("stream"):
            return web.Response(body=whole, content_type="application/json")
        response = web.StreamResponse(
            headers={"content-type": "text/event-stream", "cache-control": "no-cache"}
        )
        await response.prepare(request)
        for event in events:
            await response.write(event)
        if (body.get("stream_options") or {}).get("include_usage"):
            await response.write(usage_event)
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def list_models(_: web.Request) -> web.Response:
        return web.Response(body=models, content_type="application/json")

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/health", health)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunks", type=int, default=20)
    args = parser.parse_args()
    serve(build(args.chunks), args.port)


if __name__ == "__main__":
    main()
