"""DashScope's OpenAI-compatible mode, for `dashscope` accounts pointed at the emulator (`serve --emulate`
configures one, so `/v1/embeddings` works in the demo).

`POST /compatible-mode/v1/embeddings` takes a `Bearer sk-…` key and `text-embedding-v1`…`v4`, at most ten
rows of text per call (DashScope's limit; token arrays are refused, as DashScope does), `dimensions` among
the sizes the model offers (1024 by default), and answers OpenAI's shape with `media.embedding_of` vectors.
Errors are OpenAI-shaped, as DashScope's compatible mode answers them.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from qwen_server.emulator.media import embedding_of
from qwen_server.emulator.replies import count_tokens
from qwen_server.emulator.responses import json_response
from qwen_server.emulator.state import EmulatorState

MODELS = {
    "text-embedding-v1": (1536,),
    "text-embedding-v2": (1536,),
    "text-embedding-v3": (1024, 768, 512, 256, 128, 64),
    "text-embedding-v4": (1024, 2048, 1536, 768, 512, 256, 128, 64),
}
MAX_ROWS = 10


def _error(status: int, code: str, message: str) -> Response:
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return json_response(status, {**body, "request_id": str(uuid.uuid4())})


def _rows(raw: Any) -> list[str] | None:
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw and all(isinstance(r, str) for r in raw):
        return raw
    return None


def _embeddings(state: EmulatorState) -> Any:
    async def embeddings(request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer sk-"):
            return _error(401, "invalid_api_key", "Incorrect API key provided.")
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _error(400, "invalid_parameter_error", "The request body is not valid JSON.")
        if not isinstance(body, dict):
            return _error(400, "invalid_parameter_error", "The request body must be a JSON object.")
        model = body.get("model")
        sizes = MODELS.get(str(model))
        if sizes is None:
            return _error(404, "model_not_found", f"The model `{model}` does not exist.")
        rows = _rows(body.get("input"))
        if rows is None:
            return _error(400, "invalid_parameter_error", "input must be a string or a list of strings.")
        if len(rows) > MAX_ROWS:
            return _error(400, "invalid_parameter_error", f"batch size is invalid, at most {MAX_ROWS} rows.")
        dimensions = body.get("dimensions", sizes[0])
        if dimensions not in sizes:
            return _error(400, "invalid_parameter_error", f"dimensions must be one of {list(sizes)}.")
        state.media.count("dashscope:embeddings")  # reported by GET /_emulator/media
        tokens = sum(count_tokens(len(r)) for r in rows)
        data = [
            {"object": "embedding", "index": i, "embedding": embedding_of(row, int(dimensions))}
            for i, row in enumerate(rows)
        ]
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return json_response(
            200, {"object": "list", "data": data, "model": model, "usage": usage, "id": str(uuid.uuid4())}
        )

    return embeddings


def routes(state: EmulatorState) -> list[Route]:
    return [Route("/compatible-mode/v1/embeddings", _embeddings(state), methods=["POST"])]
