"""POST /v1/embeddings (the `aux` scheduler class; nothing of the audio codecs is imported here)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from qwen_server.app.auth import tenant_for
from qwen_server.app.http import JSONBytes, read_json
from qwen_server.app.runtime import get_runtime


async def create_embeddings(request: Request) -> Response:
    from qwen_server.audio import admission, embeddings

    runtime = await get_runtime()
    tenant = tenant_for(request, runtime.settings.gateway_keys())
    body = embeddings.parse(await read_json(request, runtime.settings.max_request_bytes))
    request.state.log.update(model=body.model)
    refused = embeddings.refusal(body, {a.kind for a in runtime.pool.accounts()})
    if refused is not None:
        raise refused
    answers = admission.on_account(
        runtime.pool,
        runtime.gateway.scheduler,
        "aux",
        tenant,
        body.upstream_model,
        embeddings.kinds_for(body),
        embeddings.call(runtime.clients, body),
        first_byte_timeout=runtime.settings.upstream_first_byte_timeout,
    )
    results = [result async for result in answers]  # one answer; running to the end records its outcome
    return JSONBytes(results[0])
