"""POST /v1/embeddings (the `aux` scheduler class; nothing of the audio codecs is imported here)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from qwen_server.app.access import admit
from qwen_server.app.http import JSONBytes, read_json
from qwen_server.app.runtime import runtime_of


async def create_embeddings(request: Request) -> Response:
    from qwen_server.audio import embeddings

    runtime = await runtime_of(request)
    tenant = await admit(request, runtime)
    body = embeddings.parse(await read_json(request, runtime.settings.max_request_bytes))
    request.state.log.update(model=body.model)
    return JSONBytes(await embeddings.run(runtime.gateway, runtime.clients, tenant, body, "aux"))
