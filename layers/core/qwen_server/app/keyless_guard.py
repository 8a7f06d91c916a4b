"""What a gateway without `GATEWAY_API_KEYS` refuses, so that no web page can drive it through a browser.

With no keys, whatever reaches the socket is served (a loopback server is for its own machine). A page the
user visits can reach it too, two ways, and both are refused here:

- DNS rebinding: a name the page controls is pointed at 127.0.0.1, and the browser then treats the gateway as
  the page's own origin (it may read the answers). The request names the foreign host in `Host`, so only
  `localhost`, loopback IP literals, the local address the request arrived on and `ALLOWED_HOSTS` are
  accepted. On AWS Lambda and Vercel the platform's routing picks the host: no check there.
- Cross-site requests: a page may send a `text/plain` or form POST anywhere without a CORS preflight; the
  browser names the page in `Origin`. An `Origin` other than the gateway's own is refused unless
  `CORS_ORIGINS` lists it (or is `*`). JSON routes also refuse the content types such a page can send
  without a preflight (`http.read_json`, told by the `keyless` flag this sets in the request's state).

`/health` is left alone (probes name whatever host they like). With keys configured none of this applies:
a page cannot make the browser send a key it does not have.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from qwen_server.app.cors import origins
from qwen_server.app.exposure import platform
from qwen_server.app.http import error_response, is_anthropic
from qwen_server.core.errors import GatewayError, PermissionDenied

if TYPE_CHECKING:
    from qwen_server.config import Settings

UNGUARDED = frozenset({"/health"})


def host_name(header: str) -> str:
    """The `Host` header's name: lower case, without port, brackets or a trailing dot."""
    value = header.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    if value.count(":") == 1:
        value = value.partition(":")[0]
    return value.removesuffix(".")


def host_allowed(name: str, local_address: str | None, allowed: frozenset[str]) -> bool:
    """A name no web page can point somewhere else: localhost, a loopback or the local IP, or a listed name.
    (No `Host` at all is no browser's request.)"""
    if not name or name == "localhost" or name in allowed or "*" in allowed:
        return True
    if local_address is not None and name == local_address.strip("[]").lower():
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def origin_allowed(origin: str, host_header: str, cors: list[str]) -> bool:
    """The gateway's own origin (a page it served itself), or one `CORS_ORIGINS` names."""
    if "*" in cors or origin.rstrip("/") in cors:
        return True
    try:
        parts = urlsplit(origin)
    except ValueError:  # `http://[`: no origin a browser sends, and nobody's
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc) and parts.netloc == host_header.strip().lower()


def refusal(scope: Scope, headers: Headers, settings: Settings) -> GatewayError | None:
    """Why a keyless gateway does not serve this request (None: it does)."""
    host_header = headers.get("host", "")
    if platform() is None:
        allowed = frozenset(h.strip().lower() for h in (settings.allowed_hosts or "").split(",") if h.strip())
        server = scope.get("server")
        name = host_name(host_header)
        if not host_allowed(name, str(server[0]) if server else None, allowed):
            return PermissionDenied(
                f"This gateway has no GATEWAY_API_KEYS, so it answers requests addressed to localhost or a "
                f"loopback address only, not to {name[:100]!r} (a web page could reach it that way, through "
                "DNS rebinding). Add the name to ALLOWED_HOSTS, or set GATEWAY_API_KEYS.",
                code="host_not_allowed",
            )
    origin = headers.get("origin")
    if origin is not None and not origin_allowed(origin, host_header, origins(settings.cors_origins)):
        return PermissionDenied(
            f"This gateway has no GATEWAY_API_KEYS, so it refuses requests that web pages at other origins "
            f"({origin[:100]!r}) make through a browser. List the origin in CORS_ORIGINS, or set "
            "GATEWAY_API_KEYS.",
            code="origin_not_allowed",
        )
    return None


class KeylessGuard:
    """Refuses, in the API's error shape, what `refusal` names; marks the rest `keyless` for `read_json`."""

    def __init__(self, app: ASGIApp, settings: Callable[[], Settings]) -> None:
        self.app = app
        self.settings = settings  # the app's own (`RuntimeCell.settings`)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNGUARDED:
            await self.app(scope, receive, send)
            return
        from qwen_server.config import ConfigError

        try:
            settings = self.settings()
        except ConfigError:
            await self.app(scope, receive, send)  # the route answers the configuration error itself
            return
        if settings.gateway_keys():
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        error = refusal(scope, headers, settings)
        if error is None:
            scope.setdefault("state", {})["keyless"] = True
            await self.app(scope, receive, send)
            return
        anthropic = is_anthropic(scope["path"]) or "anthropic-version" in headers
        request_id = scope.get("state", {}).get("request_id")
        await error_response(error, scope["path"], anthropic=anthropic, request_id=request_id)(
            scope, receive, send
        )
