"""The published contract: what each route takes and answers, as data, turned into `/openapi.json`.

`CONTRACTS` maps (method, path) to the route's request and response models, named as "module:Class" so
nothing is imported until the document is first asked for (no function pays for it on its cold start).
Every route in the factory's table appears in the document; one without an entry here is described
generically (any JSON body in, any JSON out, the API's error shape), so a new route needs only its table
entry to be published, and an entry here to be described precisely.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

Auth = Literal["gateway", "admin", "operator", "none"]
_M = "qwen_server.app.response_models"
_OPENAI = "qwen_server.api.openai.schemas"
_ANTHROPIC = "qwen_server.api.anthropic.schemas"


@dataclass(frozen=True, slots=True)
class Contract:
    summary: str
    request: str | None = None  # "module:Model" of the JSON body
    response: tuple[str, ...] = ()  # "module:Model" of a 200 JSON body; several: any of them
    streams: bool = False  # `stream: true` answers text/event-stream
    auth: Auth = "gateway"
    content_type: str = "application/json"  # of the 200 answer
    example: dict[str, Any] | None = None  # a request body that reaches the upstream


# One server-sent event: OpenAI's `data:` lines carry a chunk's JSON (then `[DONE]`); Anthropic's name
# the event (`message_start`, `content_block_delta`, ...) and carry its JSON.
SSE_EVENT: dict[str, Any] = {
    "type": "object",
    "required": ["data"],
    "properties": {"event": {"type": "string"}, "data": {"type": "string"}, "id": {"type": "string"}},
}
_HELLO = [{"role": "user", "content": "hello"}]
# Values a path parameter takes in a real call (documentation, and test generators start from them).
PATH_EXAMPLES = {"model_id": "qwen3-max"}


CONTRACTS: dict[tuple[str, str], Contract] = {
    ("POST", "/v1/chat/completions"): Contract(
        "Create a chat completion (OpenAI)",
        f"{_OPENAI}:ChatCompletionRequest",
        (f"{_M}:ChatCompletion",),
        streams=True,
        example={"model": "qwen3-max", "messages": _HELLO},
    ),
    ("POST", "/v1/messages"): Contract(
        "Create a message (Anthropic)",
        f"{_ANTHROPIC}:MessagesRequest",
        (f"{_M}:Message",),
        streams=True,
        example={"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": _HELLO},
    ),
    ("POST", "/v1/messages/count_tokens"): Contract(
        "Count a message's input tokens (Anthropic)",
        f"{_ANTHROPIC}:CountTokensRequest",
        (f"{_M}:TokenCount",),
    ),
    ("GET", "/v1/models"): Contract(
        "List the models (Anthropic's shape with anthropic-version)",
        response=(f"{_M}:OpenAIModelList", f"{_M}:AnthropicModelList"),
    ),
    ("GET", "/v1/models/{model_id}"): Contract(
        "One model", response=(f"{_M}:OpenAIModel", f"{_M}:AnthropicModel")
    ),
    ("GET", "/health"): Contract(
        "Liveness; never calls an upstream", response=(f"{_M}:Health",), auth="none"
    ),
    ("GET", "/v1/metrics"): Contract("Requests, accounts and queues as JSON", auth="operator"),
    ("GET", "/metrics"): Contract(
        "The same metrics as Prometheus text", auth="operator", content_type="text/plain"
    ),
    ("GET", "/openapi.json"): Contract("This document", auth="none"),
    ("GET", "/docs"): Contract(
        "Interactive docs (when API_DOCS is on)", auth="none", content_type="text/html"
    ),
    ("GET", "/admin/accounts"): Contract(
        "Accounts with state and reason", response=(f"{_M}:Listing",), auth="admin"
    ),
    ("POST", "/admin/accounts/{account_id}/enable"): Contract(
        "Put an account back in rotation now", response=(f"{_M}:AccountRow",), auth="admin"
    ),
    ("POST", "/admin/accounts/{account_id}/disable"): Contract(
        "Take an account out of rotation", f"{_M}:DisableOptions", (f"{_M}:AccountRow",), auth="admin"
    ),
    ("POST", "/admin/accounts/{account_id}/probe"): Contract(
        "Check an account's credential now", response=(f"{_M}:ProbeResult",), auth="admin"
    ),
    ("POST", "/admin/accounts/reload"): Contract(
        "Read the account list again", response=(f"{_M}:ReloadResult",), auth="admin"
    ),
    ("GET", "/v1/blobs/{token}"): Contract(
        "The bytes behind a signed link (the token is the credential)",
        auth="none",
        content_type="application/octet-stream",
    ),
    ("GET", "/admin/usage"): Contract(
        "Requests and tokens by tenant and day", response=(f"{_M}:Listing",), auth="admin"
    ),
    ("GET", "/admin/usage/recent"): Contract(
        "Requests, tokens and error answers by tenant over the last hour and day",
        response=(f"{_M}:RecentUsage",),
        auth="admin",
    ),
    ("GET", "/admin/queues"): Contract(
        "The scheduler's queues by request class", response=(f"{_M}:QueuesView",), auth="admin"
    ),
    ("GET", "/admin/errors"): Contract(
        "Recent upstream errors with their diagnosis", response=(f"{_M}:UpstreamErrors",), auth="admin"
    ),
    ("GET", "/admin"): Contract(
        "The operator's dashboard (asks for an admin key)", auth="none", content_type="text/html"
    ),
    ("GET", "/admin/assets/admin.css"): Contract(
        "The dashboard's stylesheet", auth="none", content_type="text/css"
    ),
    ("GET", "/admin/assets/admin.js"): Contract(
        "The dashboard's script", auth="none", content_type="text/javascript"
    ),
}


def _load(target: str) -> type[BaseModel]:
    module, _, name = target.partition(":")
    model: type[BaseModel] = getattr(importlib.import_module(module), name)
    return model


def _openapi_path(path: str) -> str:
    """Starlette's `{model_id:path}` is OpenAPI's `{model_id}`."""
    import re

    return re.sub(r"\{(\w+):\w+\}", r"{\1}", path)


def _ref(target: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{target.partition(':')[2]}"}


def _error_shape(path: str) -> dict[str, str]:
    anthropic = path.startswith("/v1/messages")
    return _ref(f"{_M}:AnthropicError" if anthropic else f"{_M}:OpenAIError")


def _operation(method: str, path: str, contract: Contract | None) -> dict[str, Any]:
    generic = contract is None
    c = contract or Contract(f"{method} {path}")
    op: dict[str, Any] = {"summary": c.summary, "operationId": f"{method.lower()}{path}".replace("/", "_")}
    params = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "minLength": 1},
            **({"example": PATH_EXAMPLES[name]} if name in PATH_EXAMPLES else {}),
        }
        for name in _path_params(path)
    ]
    if params:
        op["parameters"] = params
    if c.request is not None:
        media: dict[str, Any] = {"schema": _ref(c.request)}
        if c.example is not None:
            media["example"] = c.example
        op["requestBody"] = {"required": c.auth != "admin", "content": {"application/json": media}}
    elif generic and method in ("POST", "PUT", "PATCH"):
        op["requestBody"] = {"content": {"application/json": {"schema": {"type": "object"}}}}
    if c.content_type == "application/json":
        body: dict[str, Any] = (
            {"anyOf": [_ref(r) for r in c.response]}
            if len(c.response) > 1
            else _ref(c.response[0])
            if c.response
            else {"type": "object"}
        )
        ok: dict[str, Any] = {"application/json": {"schema": body}}
    else:
        ok = {c.content_type: {"schema": {"type": "string"}}}
    if c.streams:
        ok["text/event-stream"] = {"schema": SSE_EVENT}
    op["responses"] = {
        "200": {
            "description": "Success" + (" (a stream when `stream` is true)" if c.streams else ""),
            "content": ok,
        },
        "default": {
            "description": "An error in the API's own shape",
            "content": {"application/json": {"schema": _error_shape(path)}},
        },
    }
    if c.auth in ("gateway", "operator"):
        op["security"] = [{"bearer": []}, {"x-api-key": []}, {}]
    elif c.auth == "admin":
        op["security"] = [{"bearer": []}, {"x-api-key": []}]
    else:
        op["security"] = []
    return op


def _path_params(path: str) -> list[str]:
    import re

    return re.findall(r"\{(\w+)(?::\w+)?\}", path)


def openapi_document(routes: Iterable[tuple[str, str]], title: str, version: str) -> dict[str, Any]:
    """OpenAPI 3.1 for `routes` ((method, path) pairs as the factory serves them)."""
    paths: dict[str, dict[str, Any]] = {}
    targets: set[str] = {f"{_M}:OpenAIError", f"{_M}:AnthropicError"}
    for method, path in routes:
        contract = CONTRACTS.get((method, _openapi_path(path)))
        if contract is not None:
            targets.update(filter(None, (contract.request, *contract.response)))
        paths.setdefault(_openapi_path(path), {})[method.lower()] = _operation(
            method, _openapi_path(path), contract
        )
    models = [(_load(t), "validation") for t in sorted(targets)]
    _, defs = models_json_schema(models, ref_template="#/components/schemas/{model}")  # type: ignore[arg-type]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "OpenAI- and Anthropic-compatible gateway in front of a pool of Qwen accounts.",
        },
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "x-api-key": {"type": "apiKey", "in": "header", "name": "x-api-key"},
            },
        },
    }
