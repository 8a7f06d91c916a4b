"""On Vercel a gateway needs a shared store, and says so on every route until it has one.

A Vercel function can write only to its own `/tmp`, which no other instance sees and which goes with the
instance: accounts' slots and health, files, batches, video jobs and stored responses kept there would be
lost or split between instances without anyone noticing. So without `STORE_URL`, `REDIS_URL` or `KV_URL`
every request is answered 503 in the caller's API shape, naming what to connect (no traceback, no attempt to
open SQLite in a read-only project folder). An explicit `STORE_URL` (even `sqlite:////tmp/...`) is obeyed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Receive, Scope, Send

from qwen_server.app.http import error_response, is_anthropic
from qwen_server.core.errors import Misconfigured

if TYPE_CHECKING:
    from collections.abc import Callable

    from qwen_server.config import Settings

log = logging.getLogger("qwen_server")
NO_STORE = (
    "No shared state store is connected. A Vercel function can only write to its own /tmp, which other "
    "instances never see, so the gateway keeps its state in Redis: add the Upstash Redis integration "
    "(Vercel Marketplace > Storage > Upstash for Redis, connected to this project; it sets REDIS_URL), or set "
    "STORE_URL=rediss://..., then redeploy."
)


def missing_store(settings: Settings) -> str | None:
    """Why this deployment cannot keep state, or None when it can."""
    if not settings.vercel:
        return None
    if settings.store_url or any(
        url and url.startswith(("redis://", "rediss://")) for url in (settings.redis_url, settings.kv_url)
    ):
        return None
    return NO_STORE


class SharedStoreRequired:
    """Answers every HTTP request 503 while `missing_store` has a reason; checks the settings once they load."""

    def __init__(self, app: ASGIApp, settings: Callable[[], Settings]) -> None:
        self.app = app
        self.settings = settings
        self.fine = False
        self.warned = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.fine:
            await self.app(scope, receive, send)
            return
        from qwen_server.config import ConfigError

        try:
            problem = missing_store(self.settings())
        except ConfigError:
            problem = None  # the runtime answers a bad setting itself (503 naming it)
        if problem is None:
            self.fine = True
            await self.app(scope, receive, send)
            return
        if not self.warned:
            self.warned = True
            log.error("every request answers 503: %s", problem)
        headers = dict(scope.get("headers") or ())
        anthropic = is_anthropic(scope.get("path", "")) or b"anthropic-version" in headers
        state = scope.get("state") or {}
        response = error_response(
            Misconfigured(problem), scope.get("path", ""), anthropic=anthropic, request_id=state.get("request_id")
        )
        await response(scope, receive, send)
