"""A minimal OpenAI-compatible server with a fixed answer: the upstream for the `openai` kind benchmark, and
for end-to-end tests of how the gateway treats an upstream's refusals and model listings.

python bench/fake_openai.py --port 8100 [--chunks 20]
    [--api-key K ...]             only these keys are accepted (401 otherwise, /models included); default any
    [--models ID ...]             what GET /v1/models lists (default: qwen3-max)
    [--unpurchased ID ...]        chat calls for these models answer 403 AccessDenied.Unpurchased, as DashScope
    [--models-mode ok|malformed|hang]   how GET /v1/models answers
    [--embedding-rows N]          /v1/embeddings refuses more rows per call than this (default 10, as DashScope)

Audio and embeddings, deterministic (`qwen_server.emulator.media`): a chat message with `input_audio` is
answered with the transcript of its bytes (a translation when the system message asks for English);
POST /v1/embeddings answers vectors of `dimensions` (default 16); POST /v1/audio/speech answers PCM (only
`response_format: "pcm"`); DashScope's native TTS (`/api/v1/services/aigc/multimodal-generation/generation`)
answers SSE frames of base64 PCM. Every body received is kept for /_fake/bodies.

POST /v1/images/generations and /v1/images/edits answer 40x30 PNGs as b64_json.
GET /_fake/stats counts requests by path (and refused ones); POST /_fake/keys {"add": [...]} accepts more keys.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
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

from qwen_server.emulator import media

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
    embedding_rows: int = 10
    stats: Counter[str] = field(default_factory=Counter)
    bodies: list[dict[str, object]] = field(default_factory=list)

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
    reply_words = [f"w{i} " for i in range(chunks)]
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
        words = reply_words
        heard = _heard(body)
        if heard is not None:
            state.stats["input_audio"] += 1
            state.bodies.append(body)
            words = [w + " " for w in heard.split(" ")]
            words[-1] = words[-1].rstrip()
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

    async def images(request: Request) -> Response:
        """`/v1/images/generations` (JSON) and `/v1/images/edits` (multipart): one small PNG per image,
        as `b64_json`; an edit must carry its `image` file."""
        refused = state.refused(request)
        if refused is not None:
            return refused
        state.stats[request.url.path] += 1
        from qwen_server.emulator.media_files import png

        if request.url.path.endswith("/edits"):
            form = await request.form()
            if not hasattr(form.get("image"), "read"):
                return _json(
                    400, {"error": {"message": "image is required", "type": "invalid_request_error"}}
                )
            n, prompt = int(str(form.get("n") or 1)), str(form.get("prompt"))
        else:
            body = orjson.loads(await request.body())
            n, prompt = int(body.get("n") or 1), str(body.get("prompt"))
        images = [{"b64_json": base64.b64encode(png(40, 30, f"{prompt}{i}")).decode()} for i in range(n)]
        return _json(200, {"created": int(time.time()), "data": images})

    async def embeddings(request: Request) -> Response:
        refused = state.refused(request)
        if refused is not None:
            return refused
        body = orjson.loads(await request.body())
        state.bodies.append(body)
        rows = body.get("input")
        rows = [rows] if isinstance(rows, str) else rows
        if not isinstance(rows, list) or not rows:
            return _json(400, {"error": {"code": "invalid_request_error", "message": "input is required"}})
        if len(rows) > state.embedding_rows:
            state.stats["400 embeddings rows"] += 1
            message = f"batch size is invalid, it should not be larger than {state.embedding_rows}"
            return _json(400, {"error": {"code": "InvalidParameter", "message": message}})
        state.stats[f"embeddings {len(rows)}"] += 1
        dims = int(body.get("dimensions") or 16)
        data = [
            {"object": "embedding", "index": i, "embedding": media.embedding_of(str(row), dims)}
            for i, row in enumerate(rows)
        ]
        tokens = sum(len(str(row)) // 4 + 1 for row in rows)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return _json(200, {"object": "list", "data": data, "model": body.get("model"), "usage": usage})

    async def speech(request: Request) -> Response:
        refused = state.refused(request)
        if refused is not None:
            return refused
        body = orjson.loads(await request.body())
        state.bodies.append(body)
        state.stats["speech"] += 1
        if body.get("response_format") != "pcm":
            return _json(400, {"error": {"code": "invalid_request_error", "message": "only pcm here"}})
        pcm = media.speech_pcm(str(body.get("input") or ""), float(body.get("speed") or 1.0))

        async def pieces() -> AsyncIterator[bytes]:
            for start in range(0, len(pcm), 9600):
                yield pcm[start : start + 9600]

        return StreamingResponse(pieces(), media_type="audio/pcm")

    async def dashscope_tts(request: Request) -> Response:
        refused = state.refused(request)
        if refused is not None:
            return refused
        body = orjson.loads(await request.body())
        state.bodies.append(body)
        state.stats["dashscope tts"] += 1
        pcm = media.speech_pcm(str((body.get("input") or {}).get("text") or ""))

        async def frames() -> AsyncIterator[bytes]:
            for start in range(0, len(pcm), 9600):
                audio = {"data": base64.b64encode(pcm[start : start + 9600]).decode(), "id": "audio_1"}
                frame = {"output": {"audio": audio, "finish_reason": "null"}, "request_id": "r1"}
                yield b"data: " + orjson.dumps(frame) + b"\n\n"
            done = {
                "output": {"audio": {"data": "", "id": "audio_1"}, "finish_reason": "stop"},
                "request_id": "r1",
            }
            yield b"data: " + orjson.dumps(done) + b"\n\n"

        return StreamingResponse(frames(), media_type="text/event-stream")

    async def bodies(_: Request) -> Response:
        return _json(200, state.bodies)

    async def stats(_: Request) -> Response:
        return _json(200, dict(state.stats))

    async def keys(request: Request) -> Response:
        state.keys.update(orjson.loads(await request.body()).get("add", []))
        return _json(200, {"keys": len(state.keys)})

    return Starlette(
        routes=[
            Route("/v1/models", models),
            Route("/v1/chat/completions", completions, methods=["POST"]),
            Route("/v1/images/generations", images, methods=["POST"]),
            Route("/v1/images/edits", images, methods=["POST"]),
            Route("/v1/embeddings", embeddings, methods=["POST"]),
            Route("/v1/audio/speech", speech, methods=["POST"]),
            Route("/api/v1/services/aigc/multimodal-generation/generation", dashscope_tts, methods=["POST"]),
            Route("/_fake/bodies", bodies),
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
    parser.add_argument("--embedding-rows", type=int, default=10)
    args = parser.parse_args()
    upstream = Upstream(
        set(args.api_key), args.models, set(args.unpurchased), args.models_mode, args.embedding_rows
    )
    uvicorn.run(
        build(args.chunks, upstream), host="127.0.0.1", port=args.port, log_level="warning", access_log=False
    )


def _heard(body: dict[str, object]) -> str | None:
    """The answer to a chat whose user message carries `input_audio`: the transcript of its bytes (OpenAI's
    base64 `data`, or DashScope's data: URL), translated when the system message asks for English."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return None
    system = " ".join(
        str(m.get("content")) for m in messages if isinstance(m, dict) and m.get("role") == "system"
    )
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        for part in content if isinstance(content, list) else ():
            if isinstance(part, dict) and part.get("type") == "input_audio":
                data = str(part["input_audio"]["data"])
                if data.startswith("data:"):
                    data = data.partition(",")[2]
                audio = base64.b64decode(data)
                return media.translation_of(audio) if "into English" in system else media.transcript_of(audio)
    return None


if __name__ == "__main__":
    main()
