"""`/v1/embeddings` on DashScope and OpenAI-compatible accounts: validated, split into the upstream's rows per
call, reassembled in input order, answered as floats or base64 (little-endian float32, as OpenAI's)."""

from __future__ import annotations

import array
import base64
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from qwen_server.audio import catalog
from qwen_server.core.errors import InvalidRequest, UpstreamError
from qwen_server.providers.base import Account
from qwen_server.providers.http import ClientRegistry
from qwen_server.providers.openai_errors import classify

if TYPE_CHECKING:
    from qwen_server.gateway import Gateway
    from qwen_server.scheduler.base import RequestClass

MAX_ROWS = 2048  # OpenAI's own limit per request
NO_ACCOUNT = (
    "Embeddings need a DashScope or OpenAI-compatible account: add one to QWEN_ACCOUNTS "
    '(e.g. {"kind": "dashscope", "api_key": "sk-..."}); Qwen Chat web accounts have no embeddings.'
)


@dataclass(frozen=True, slots=True)
class EmbeddingsRequest:
    model: str  # as the client named it
    upstream_model: str
    rows: list[Any]  # strings, or token lists
    tokens: bool
    dimensions: int | None
    encoding_format: str
    user: str | None


def parse(body: dict[str, Any]) -> EmbeddingsRequest:
    """OpenAI's request shape, refused field by field with the field named."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("Missing required parameter: 'model'.", param="model")
    raw = body.get("input")
    if isinstance(raw, str):
        rows: list[Any] = [raw]
    elif isinstance(raw, list) and raw:
        rows = raw
    else:
        raise InvalidRequest("'input' must be a non-empty string or a non-empty array.", param="input")
    tokens = False
    if all(isinstance(r, int) and not isinstance(r, bool) for r in rows):
        rows, tokens = [rows], True  # one row given as a token array
    elif all(isinstance(r, list) for r in rows):
        if not all(r and all(isinstance(t, int) and not isinstance(t, bool) for t in r) for r in rows):
            raise InvalidRequest("Each token array in 'input' must hold integers.", param="input")
        tokens = True
    elif not all(isinstance(r, str) for r in rows):
        raise InvalidRequest("'input' must be strings, or token arrays, not a mix.", param="input")
    if not tokens and any(not r.strip() for r in rows):
        raise InvalidRequest("'input' must not contain empty strings.", param="input")
    if len(rows) > MAX_ROWS:
        raise InvalidRequest(f"'input' may hold at most {MAX_ROWS} rows; it has {len(rows)}.", param="input")
    dimensions = body.get("dimensions")
    if dimensions is not None and (
        isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1
    ):
        raise InvalidRequest("'dimensions' must be a positive integer.", param="dimensions")
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise InvalidRequest("'encoding_format' must be 'float' or 'base64'.", param="encoding_format")
    user = body.get("user")
    return EmbeddingsRequest(
        model=model,
        upstream_model=catalog.model_for("embeddings", model),
        rows=rows,
        tokens=tokens,
        dimensions=dimensions,
        encoding_format=encoding,
        user=user if isinstance(user, str) else None,
    )


def kinds_for(request: EmbeddingsRequest) -> frozenset[str]:
    """The account kinds that can serve this request (token arrays only where the upstream takes them)."""
    table = catalog.embedding_kinds()
    return frozenset(k for k, v in table.items() if v.get("token_arrays") or not request.tokens)


def refusal(request: EmbeddingsRequest, configured: set[str]) -> InvalidRequest | None:
    """Why no configured account can serve the request, if none can."""
    if not configured & set(catalog.embedding_kinds()):
        return InvalidRequest(NO_ACCOUNT, param="model", code="embeddings_unavailable")
    if not configured & kinds_for(request):
        return InvalidRequest(
            "Token arrays in 'input' need an OpenAI-compatible account; DashScope takes text only. "
            "Send the text instead.",
            param="input",
        )
    return None


def call(clients: ClientRegistry, request: EmbeddingsRequest) -> Any:
    """The upstream call for `on_account`: every batch on one account, the rows back in input order."""

    async def run(account: Account, model: str) -> AsyncIterator[dict[str, Any]]:
        per_call = int(catalog.embedding_kinds()[account.kind]["rows_per_call"])
        client = clients.get(account.base_url)
        headers = {"Authorization": f"Bearer {account.api_key}", "Content-Type": "application/json"}
        vectors: list[list[float]] = []
        prompt_tokens = 0
        for start in range(0, len(request.rows), per_call):
            batch = request.rows[start : start + per_call]
            payload: dict[str, Any] = {"model": model, "input": batch, "encoding_format": "float"}
            if request.dimensions is not None:
                payload["dimensions"] = request.dimensions
            if request.user and account.kind == "openai":
                payload["user"] = request.user
            response = await client.fetch(
                "POST", f"{account.base_url}/embeddings", content=orjson.dumps(payload), headers=headers
            )
            if response.status >= 400:
                raise classify(response.status, response.body, response.headers)
            got, used = _rows(response.body, len(batch))
            vectors.extend(got)
            prompt_tokens += used
        yield answer(request, vectors, prompt_tokens)

    return run


async def run(
    gateway: Gateway, clients: ClientRegistry, tenant: str, request: EmbeddingsRequest, cls: RequestClass
) -> dict[str, Any]:
    """The embeddings answer, on an account that serves embeddings, admitted in `cls` (`aux` live, `batch`
    for a batch line), failing over before the first byte like any request."""
    from qwen_server.audio import admission

    refused = refusal(request, {a.kind for a in gateway.pool.accounts()})
    if refused is not None:
        raise refused
    answers = admission.on_account(
        gateway.pool,
        gateway.scheduler,
        cls,
        tenant,
        request.upstream_model,
        kinds_for(request),
        call(clients, request),
        first_byte_timeout=gateway.first_byte_timeout,
    )
    results = [result async for result in answers]  # one answer; running to the end records its outcome
    result: dict[str, Any] = results[0]
    return result


def _rows(body: bytes, expected: int) -> tuple[list[list[float]], int]:
    try:
        payload = orjson.loads(body)
        items = sorted(payload["data"], key=lambda d: int(d.get("index", 0)))
        vectors = [[float(x) for x in d["embedding"]] for d in items]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        raise UpstreamError("the upstream answered embeddings in a shape the gateway cannot read") from None
    if len(vectors) != expected:
        raise UpstreamError(f"the upstream answered {len(vectors)} embeddings for {expected} inputs")
    usage = payload.get("usage") or {}
    return vectors, int(usage.get("prompt_tokens") or usage.get("total_tokens") or 0)


def answer(request: EmbeddingsRequest, vectors: list[list[float]], prompt_tokens: int) -> dict[str, Any]:
    data = [
        {"object": "embedding", "index": i, "embedding": _encode(v, request.encoding_format)}
        for i, v in enumerate(vectors)
    ]
    return {
        "object": "list",
        "data": data,
        "model": request.model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


def _encode(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "float":
        return vector
    packed = array.array("f", vector)
    if sys.byteorder != "little":
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")
