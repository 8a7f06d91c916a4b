"""GET /v1/models and /v1/models/{id}: OpenAI's shape, or Anthropic's when `anthropic-version` is sent."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from qwen_server.app.auth import tenant_for
from qwen_server.app.http import JSONBytes
from qwen_server.app.runtime import Runtime, runtime_of
from qwen_server.core.errors import NotFound


async def _entries(runtime: Runtime) -> list[dict[str, Any]]:
    upstream = await runtime.gateway.upstream_models()
    known = {m.id for m in upstream}
    entries = [
        {"id": m.id, "object": "model", "created": m.created, "owned_by": m.owned_by} for m in upstream
    ]
    for alias in runtime.gateway.catalog.aliases:
        target_id = runtime.gateway.catalog.resolve(alias).upstream
        if target_id in known and alias not in known:
            entries.append(
                {"id": alias, "object": "model", "created": 0, "owned_by": "alias", "root": target_id}
            )
    return entries


def _anthropic_shape(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "model",
        "id": entry["id"],
        "display_name": entry["id"],
        "created_at": "2025-01-01T00:00:00Z",
    }


async def list_models(request: Request) -> Response:
    runtime = await runtime_of(request)
    tenant_for(request, runtime.settings.gateway_keys())
    entries = await _entries(runtime)
    if request.headers.get("anthropic-version"):
        data = [_anthropic_shape(e) for e in entries]
        return JSONBytes(
            {
                "data": data,
                "has_more": False,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
        )
    return JSONBytes({"object": "list", "data": entries})


async def get_model(request: Request) -> Response:
    runtime = await runtime_of(request)
    tenant_for(request, runtime.settings.gateway_keys())
    model_id = request.path_params["model_id"]
    for entry in await _entries(runtime):
        if entry["id"] == model_id:
            return JSONBytes(_anthropic_shape(entry) if request.headers.get("anthropic-version") else entry)
    if runtime.gateway.catalog.is_alias(model_id):
        entry = {"id": model_id, "object": "model", "created": 0, "owned_by": "alias"}
        return JSONBytes(_anthropic_shape(entry) if request.headers.get("anthropic-version") else entry)
    raise NotFound(f"The model `{model_id}` does not exist", param="model")
