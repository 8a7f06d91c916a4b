"""CORS for browser clients, from `CORS_ORIGINS` (comma-separated origins, or `*`).

Settings are read on the first request, not when the app is built: a serverless function builds its app
at import, before its secrets are loaded, and a bad setting must not stop the import. Unset: no CORS
headers at all and preflights are not answered (browsers then refuse cross-origin calls).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from qwen_server.config import Settings

# What a browser client may read from a response besides the CORS-safelisted headers.
EXPOSED = [
    "x-request-id",
    "request-id",
    "retry-after",
    "x-should-retry",
    *(f"x-ratelimit-{w}-{k}" for w in ("limit", "remaining", "reset") for k in ("requests", "tokens")),
    *(
        f"anthropic-ratelimit-{k}-{w}"
        for k in ("requests", "tokens")
        for w in ("limit", "remaining", "reset")
    ),
]


def origins(raw: str | None) -> list[str]:
    return [o.strip().rstrip("/") for o in (raw or "").split(",") if o.strip()]


class LazyCors:
    def __init__(self, app: ASGIApp, settings: Callable[[], Settings]) -> None:
        self.app = app
        self.settings = settings  # the app's own (`RuntimeCell.settings`)
        self._inner: ASGIApp | None = None

    def _build(self) -> ASGIApp:
        from qwen_server.config import ConfigError

        try:
            allowed = origins(self.settings().cors_origins)
        except ConfigError:
            return self.app  # the route answers the configuration error itself
        if not allowed:
            return self.app
        from starlette.middleware.cors import CORSMiddleware

        return CORSMiddleware(
            self.app,
            allow_origins=allowed,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=EXPOSED,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._inner is None:
            self._inner = self._build()
        await self._inner(scope, receive, send)
