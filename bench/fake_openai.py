"""A minimal OpenAI-compatible server with a fixed answer: the upstream for the `openai` kind benchmark.

python bench/fake_openai.py --port 8100 [--chunks 20]
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import AsyncIterator

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route


def build(chunks: int) -> Starlette:
    words = [f"w{i} " for i in range(chunks)]

    async def models(_: Request) -> Response:
        body = {"object": "list", "data": [{"id": "qwen3-max", "object": "model", "owned_by": "fake"}]}
        return Response(orjson.dumps(body), media_type="application/json")

    async def completions(request: Request) -> Response:
        body = orjson.loads(await request.body())
        cid, created, model = f"chatcmpl-{uuid.uuid4().hex}", int(time.time()), body.get("model", "m")
        usage = {"prompt_tokens": 10, "completion_tokens": chunks, "total_tokens": 10 + chunks}
        if not body.get("stream"):
            message = {"role": "assistant", "content": "".join(words)}
            out = {
                "id": cid,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "usage": usage,
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            }
            return Response(orjson.dumps(out), media_type="application/json")

        async def events() -> AsyncIterator[bytes]:
            base = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model}
            for word in words:
                choice = {"index": 0, "delta": {"content": word}, "finish_reason": None}
                yield b"data: " + orjson.dumps({**base, "choices": [choice]}) + b"\n\n"
            yield (
                b"data: "
                + orjson.dumps({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                + b"\n\n"
            )
            if (body.get("stream_options") or {}).get("include_usage"):
                yield b"data: " + orjson.dumps({**base, "choices": [], "usage": usage}) + b"\n\n"
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return Starlette(
        routes=[Route("/v1/models", models), Route("/v1/chat/completions", completions, methods=["POST"])]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunks", type=int, default=20)
    args = parser.parse_args()
    uvicorn.run(build(args.chunks), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
