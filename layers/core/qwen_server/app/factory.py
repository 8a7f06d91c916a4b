"""Building the ASGI app for one or more function groups.

The route table is data: each group lists (method, path, "module:function"). A function's app imports only
its own handlers, so the chat function never imports what the files or batches functions need.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Iterable

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from qwen_server import __version__
from qwen_server.app.cors import LazyCors
from qwen_server.app.http import (
    RequestContextMiddleware,
    gateway_error_handler,
    http_error_handler,
    unexpected_error_handler,
)
from qwen_server.app.keyless_guard import KeylessGuard
from qwen_server.app.runtime import RuntimeCell
from qwen_server.app.store_check import SharedStoreRequired
from qwen_server.core.errors import GatewayError

Handler = Callable[[Request], Awaitable[Response]]

ROUTES: dict[str, list[tuple[str, str, str]]] = {
    "chat": [
        ("POST", "/v1/chat/completions", "qwen_server.app.routes.chat:chat_completions"),
        ("POST", "/v1/completions", "qwen_server.app.routes.completions:completions"),
        ("POST", "/v1/responses", "qwen_server.app.routes.responses:create_response"),
        ("GET", "/v1/responses/{response_id}", "qwen_server.app.routes.responses:get_response"),
        ("DELETE", "/v1/responses/{response_id}", "qwen_server.app.routes.responses:delete_response"),
        (
            "GET",
            "/v1/responses/{response_id}/input_items",
            "qwen_server.app.routes.responses:list_input_items",
        ),
    ],
    "messages": [
        ("POST", "/v1/messages", "qwen_server.app.routes.messages:create_message"),
        ("POST", "/v1/messages/count_tokens", "qwen_server.app.routes.messages:count_tokens"),
    ],
    "meta": [
        ("GET", "/v1/models", "qwen_server.app.routes.models:list_models"),
        ("GET", "/v1/models/{model_id:path}", "qwen_server.app.routes.models:get_model"),
        ("GET", "/v1/metrics", "qwen_server.app.routes.meta:metrics"),
        ("GET", "/metrics", "qwen_server.app.routes.prometheus:metrics"),
        ("GET", "/openapi.json", "qwen_server.app.routes.docs:openapi"),
        ("GET", "/docs", "qwen_server.app.routes.docs:docs_page"),
    ],
    "blobs": [("GET", "/v1/blobs/{token}", "qwen_server.app.routes.blobs:get_blob")],
    "images": [
        ("POST", "/v1/images/generations", "qwen_server.app.routes.images:generate_images"),
        ("POST", "/v1/images/edits", "qwen_server.app.routes.images:edit_images"),
        ("POST", "/v1/videos", "qwen_server.app.routes.videos:create_video"),
        ("GET", "/v1/videos", "qwen_server.app.routes.videos:list_videos"),
        ("GET", "/v1/videos/{video_id}", "qwen_server.app.routes.videos:get_video"),
        ("DELETE", "/v1/videos/{video_id}", "qwen_server.app.routes.videos:delete_video"),
        ("GET", "/v1/videos/{video_id}/content", "qwen_server.app.routes.videos:video_content"),
        ("GET", "/internal/cron/videos", "qwen_server.app.routes.cron_videos:videos_tick"),
        ("POST", "/internal/cron/videos", "qwen_server.app.routes.cron_videos:videos_tick"),
    ],
    "admin": [
        ("GET", "/admin/accounts", "qwen_server.app.routes.admin:list_accounts"),
        ("POST", "/admin/accounts/{account_id}/enable", "qwen_server.app.routes.admin:enable_account"),
        ("POST", "/admin/accounts/{account_id}/disable", "qwen_server.app.routes.admin:disable_account"),
        ("POST", "/admin/accounts/{account_id}/probe", "qwen_server.app.routes.admin:probe_account"),
        ("POST", "/admin/accounts/reload", "qwen_server.app.routes.admin:reload_accounts"),
        ("GET", "/admin/usage", "qwen_server.app.routes.admin:usage"),
        ("GET", "/admin/usage/recent", "qwen_server.app.routes.admin_views:recent_usage"),
        ("GET", "/admin/queues", "qwen_server.app.routes.admin_views:queues"),
        ("GET", "/admin/errors", "qwen_server.app.routes.admin_views:upstream_errors"),
        ("GET", "/admin", "qwen_server.app.routes.admin_page:page"),
        ("GET", "/admin/assets/admin.css", "qwen_server.app.routes.admin_page:stylesheet"),
        ("GET", "/admin/assets/admin.js", "qwen_server.app.routes.admin_page:script"),
    ],
    "audio": [
        ("POST", "/v1/audio/speech", "qwen_server.app.routes.audio:create_speech"),
        ("POST", "/v1/audio/transcriptions", "qwen_server.app.routes.audio:create_transcription"),
        ("POST", "/v1/audio/translations", "qwen_server.app.routes.audio:create_translation"),
        ("POST", "/v1/embeddings", "qwen_server.app.routes.embeddings:create_embeddings"),
    ],
    "files": [
        ("POST", "/v1/files", "qwen_server.app.routes.files:upload_file"),
        ("GET", "/v1/files", "qwen_server.app.routes.files:list_files"),
        ("GET", "/v1/files/{file_id}", "qwen_server.app.routes.files:get_file"),
        ("GET", "/v1/files/{file_id}/content", "qwen_server.app.routes.files:file_content"),
        ("DELETE", "/v1/files/{file_id}", "qwen_server.app.routes.files:delete_file"),
    ],
    "batches": [
        ("POST", "/v1/batches", "qwen_server.app.routes.batches:create_batch"),
        ("GET", "/v1/batches", "qwen_server.app.routes.batches:list_batches"),
        ("GET", "/v1/batches/{batch_id}", "qwen_server.app.routes.batches:get_batch"),
        ("POST", "/v1/batches/{batch_id}/cancel", "qwen_server.app.routes.batches:cancel_batch"),
        ("POST", "/v1/messages/batches", "qwen_server.app.routes.batches:create_message_batch"),
        ("GET", "/v1/messages/batches", "qwen_server.app.routes.batches:list_message_batches"),
        ("GET", "/v1/messages/batches/{batch_id}", "qwen_server.app.routes.batches:get_message_batch"),
        (
            "POST",
            "/v1/messages/batches/{batch_id}/cancel",
            "qwen_server.app.routes.batches:cancel_message_batch",
        ),
        ("DELETE", "/v1/messages/batches/{batch_id}", "qwen_server.app.routes.batches:delete_message_batch"),
        (
            "GET",
            "/v1/messages/batches/{batch_id}/results",
            "qwen_server.app.routes.batches:message_batch_results",
        ),
        ("GET", "/internal/batches/tick", "qwen_server.app.routes.batches:batches_tick"),
    ],
}
ALWAYS = [("GET", "/health", "qwen_server.app.routes.meta:health")]


def _load(target: str, path: str) -> Handler:
    """The handler, wrapped to name its route template for the access log and metrics."""
    module, _, name = target.partition(":")
    handler: Handler = getattr(importlib.import_module(module), name)

    async def endpoint(request: Request) -> Response:
        request.scope["state"]["route"] = path
        return await handler(request)

    endpoint.__name__ = name
    return endpoint


def build_app(groups: Iterable[str], runtime: RuntimeCell) -> FastAPI:
    """The ASGI app serving `groups`; its routes take `runtime` from the app's state (`runtime_of`)."""
    app = FastAPI(
        title="Qwen API Server",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.groups = tuple(dict.fromkeys(groups))  # what this app serves (the manifests' tests read it)
    app.state.runtime = runtime
    seen: set[tuple[str, str]] = set()
    for method, path, target in [*ALWAYS, *(r for g in app.state.groups for r in ROUTES[g])]:
        if (method, path) in seen:
            continue
        seen.add((method, path))
        app.add_route(path, _load(target, path), methods=[method], include_in_schema=False)
    app.add_exception_handler(GatewayError, gateway_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)
    app.add_middleware(SharedStoreRequired, settings=runtime.settings)  # inside: the access log sees its 503s
    app.add_middleware(KeylessGuard, settings=runtime.settings)  # inside the request id and access log
    app.add_middleware(RequestContextMiddleware, runtime=runtime)
    app.add_middleware(LazyCors, settings=runtime.settings)  # outermost: a preflight is answered before any route or key check
    return app


def all_groups() -> list[str]:
    return list(ROUTES)
