"""A fake OpenAI-compatible upstream that speaks tools natively, run as its own process by the e2e tests.

python tests/fake_openai_upstream.py --port P

- A request with `tools` is answered with a native call of its first tool (`{"city": "Paris"}`), streamed the
  way OpenAI and DashScope stream it: id and name in the first fragment, the arguments in pieces after.
- A request with `logprobs: true` is answered "Hi there" with a logprob per token.
- A request with a JSON `response_format` is answered `{"ok": true}`; anything else "ok".
`GET /_fake/requests` returns every chat body received, in order, so a test can check what went upstream.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

ARGUMENT_PIECES = ['{"city"', ': "Pa', 'ris"}']
USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


def _json(body: Any) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


def _logprob(token: str) -> dict[str, Any]:
    raw = list(token.encode())
    return {
        "token": token,
        "logprob": -0.5,
        "bytes": raw,
        "top_logprobs": [{"token": token, "logprob": -0.5, "bytes": raw}],
    }


def _text_pieces(body: dict[str, Any]) -> list[str]:
    if body.get("logprobs"):
        return ["Hi", " there"]
    return ['{"ok": true}'] if body.get("response_format") else ["ok"]


def _message(body: dict[str, Any]) -> tuple[dict[str, Any], str, dict[str, Any] | None]:
    """The whole answer: message, finish reason, logprobs."""
    if body.get("tools"):
        call = {
            "id": "call_fake_1",
            "type": "function",
            "function": {"name": body["tools"][0]["function"]["name"], "arguments": "".join(ARGUMENT_PIECES)},
        }
        return {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls", None
    pieces = _text_pieces(body)
    logprobs = {"content": [_logprob(p) for p in pieces]} if body.get("logprobs") else None
    return {"role": "assistant", "content": "".join(pieces)}, "stop", logprobs


def _deltas(body: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """The answer as stream deltas, each with its logprobs."""
    if body.get("tools"):
        name = body["tools"][0]["function"]["name"]
        first = {
            "index": 0,
            "id": "call_fake_1",
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        rest = [
            {"index": 0, "id": "", "type": "function", "function": {"arguments": p}} for p in ARGUMENT_PIECES
        ]
        return [({"tool_calls": [fragment]}, None) for fragment in [first, *rest]]
    with_logprobs = bool(body.get("logprobs"))
    return [
        ({"content": p}, {"content": [_logprob(p)]} if with_logprobs else None) for p in _text_pieces(body)
    ]


def build() -> Starlette:
    received: list[dict[str, Any]] = []

    async def models(_: Request) -> Response:
        return _json({"object": "list", "data": [{"id": "qwen-plus", "object": "model", "owned_by": "fake"}]})

    async def requests(_: Request) -> Response:
        return _json(received)

    async def completions(request: Request) -> Response:
        body = orjson.loads(await request.body())
        received.append(body)
        base = {"id": "chatcmpl-fake", "created": int(time.time()), "model": body.get("model", "m")}
        message, finish, logprobs = _message(body)
        if not body.get("stream"):
            choice = {"index": 0, "message": message, "logprobs": logprobs, "finish_reason": finish}
            return _json({**base, "object": "chat.completion", "choices": [choice], "usage": USAGE})

        async def events() -> AsyncIterator[bytes]:
            chunk = {**base, "object": "chat.completion.chunk"}
            role = {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
            yield b"data: " + orjson.dumps({**chunk, "choices": [role]}) + b"\n\n"
            for delta, lp in _deltas(body):
                choice = {"index": 0, "delta": delta, "logprobs": lp, "finish_reason": None}
                yield b"data: " + orjson.dumps({**chunk, "choices": [choice]}) + b"\n\n"
            end = {"index": 0, "delta": {}, "finish_reason": finish}
            yield b"data: " + orjson.dumps({**chunk, "choices": [end]}) + b"\n\n"
            yield b"data: " + orjson.dumps({**chunk, "choices": [], "usage": USAGE}) + b"\n\n"
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return Starlette(
        routes=[
            Route("/v1/models", models),
            Route("/v1/chat/completions", completions, methods=["POST"]),
            Route("/_fake/requests", requests),
            Route("/health", lambda _: Response("ok")),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(build(), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
