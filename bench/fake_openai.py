"""A minimal OpenAI-compatible server with a fixed answer: the upstream for the `openai` kind benchmark, and
for end-to-end tests of how the gateway treats an upstream's refusals and model listings.

python bench/fake_openai.py --port 8100 [--chunks 20]
    [--api-key K ...]             only these keys are accepted (401 otherwise, /models included); default any
    [--models ID ...]             what GET /v1/models lists (default: qwen3-max)
    [--unpurchased ID ...]        chat calls for these models answer 403 AccessDenied.Unpurchased, as DashScope
    [--models-mode ok|malformed|hang]   how GET /v1/models answers

GET /_fake/stats counts requests by path (and refused ones); POST /_fake/keys {"add": [...]} accepts more keys.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

UNPURCHASED = {
    "error": {
        "code": "AccessDenied.Unpurchased",
        "message": "Access to model denied. Please make sure you are eligible for using the model.",
        "type": "AccessDenied.Unpurchased",
    }
}
BAD_KEY = {
    "error": {
        "code": "invalid_api_key",
        "message": "Incorrect API key provided.",
        "type": "invalid_request_error",
    }
}


@dataclass
class Upstream:
    keys: set[str] = field(default_factory=set)  # empty: any key
    models: list[str] = field(default_factory=lambda: ["qwen3-max"])
    unpurchased: set[str] = field(default_factory=set)
    models_mode: str = "ok"
    stats: Counter[str] = field(default_factory=Counter)

    def refused(self, request: Request) -> Response | None:
        key = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if self.keys and key not in self.keys:
            self.stats[f"401 {request.url.path}"] += 1
            # as OpenAI words it: the key, masked, and where to find a good one
            masked = f"{key[:3]}***{key[-4:]}" if len(key) > 8 else "***"
            message = f"{BAD_KEY['error']['message']} Key: {masked}; see https://platform.openai.com/account/api-keys"
            return _json(401, {"error": {**BAD_KEY["error"], "message": message}})
        return None


def _json(status: int, body: object) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def build(chunks: int, upstream: Upstream | None = None) -> Starlette:
    words = [f"w{i} " for i in range(chunks)]
    state = upstream or Upstream()

    async def models(request: Request) -> Response:
        state.stats[request.url.path] += 1
        refused = state.refused(request)
        if refused is not None:
            return refused
        if state.models_mode == "hang":
            await asyncio.sleep(3600)
        if state.models_mode == "malformed":
            return Response(b'{"object": "list", "data": "not a list', media_type="application/json")
        body = {
            "object": "list",
            "data": [{"id": m, "object": "model", "owned_by": "fake"} for m in state.models],
        }
        return _json(200, body)

    async def completions(request: Request) -> Response:
        state.stats[request.url.path] += 1
        refused = state.refused(request)
        if refused is not None:
            return refused
        body = orjson.loads(await request.body())
        cid, created, model = f"chatcmpl-{uuid.uuid4().hex}", int(time.time()), body.get("model", "m")
        if model in state.unpurchased:
            state.stats[f"403 {model}"] += 1
            return _json(403, UNPURCHASED)
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

    async def stats(_: Request) -> Response:
        return _json(200, dict(state.stats))

    async def keys(request: Request) -> Response:
        state.keys.update(orjson.loads(await request.body()).get("add", []))
        return _json(200, {"keys": len(state.keys)})

    return Starlette(
        routes=[
            Route("/v1/models", models),
            Route("/v1/chat/completions", completions, methods=["POST"]),
            Route("/_fake/stats", stats),
            Route("/_fake/keys", keys, methods=["POST"]),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--api-key", action="append", default=[])
    parser.add_argument("--models", nargs="+", default=["qwen3-max"])
    parser.add_argument("--unpurchased", nargs="+", default=[])
    parser.add_argument("--models-mode", choices=["ok", "malformed", "hang"], default="ok")
    args = parser.parse_args()
    upstream = Upstream(set(args.api_key), args.models, set(args.unpurchased), args.models_mode)
    uvicorn.run(
        build(args.chunks, upstream), host="127.0.0.1", port=args.port, log_level="warning", access_log=False
    )


if __name__ == "__main__":
    main()
