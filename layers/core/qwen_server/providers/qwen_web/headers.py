"""The browser-like header set the web API expects, as one editable table.

The WAF challenges incomplete header sets, and the write endpoints require a `version` header. The table
itself is data (`protocol.json`, patched by QWEN_PROTOCOL_OVERRIDES). Anti-bot values (`bx-v`, `bx-ua`,
`bx-umidtoken`) are captured from a browser and given by env (QWEN_BX_*) or by an account's browser session,
never hard-wired.
"""

from __future__ import annotations

import time
import uuid

from qwen_server.providers.qwen_web import protocol

# Read from `protocol.json` (patched by QWEN_PROTOCOL_OVERRIDES) when the process starts; `build_headers`
# reads the protocol in force on every call.
DEFAULT_USER_AGENT = protocol.current().user_agent
CLIENT_VERSION = protocol.current().version or ""
BASE_HEADERS: dict[str, str] = protocol.current().headers


def timezone_header(now: float | None = None) -> str:
    """The web app's `timezone` header: the local time in JavaScript's Date.toString() layout."""
    t = time.localtime(now)
    offset = -time.altzone if t.tm_isdst > 0 else -time.timezone
    sign = "+" if offset >= 0 else "-"
    hh, mm = divmod(abs(offset) // 60, 60)
    return time.strftime("%a %b %d %Y %H:%M:%S", t) + f" GMT{sign}{hh:02d}{mm:02d}"


def build_headers(
    base_url: str,
    *,
    token: str | None = None,
    chat_id: str | None = None,
    stream: bool = False,
    user_agent: str | None = None,
    anti_bot: dict[str, str] | None = None,
    cookies: dict[str, str] | None = None,
    version: str | None = None,
) -> dict[str, str]:
    """The header set of one call. `cookies` (a browser session's and those the upstream set) go into the
    `Cookie` header beside the token; `version`, when given, replaces the table's `version` header (a version
    learned from the web app: `client_version`)."""
    spec = protocol.current()
    headers = spec.headers
    if version is not None:
        headers["version"] = version
    headers["User-Agent"] = user_agent or spec.user_agent
    headers["Origin"] = base_url
    headers["Referer"] = f"{base_url}/c/{chat_id}" if chat_id else f"{base_url}/"
    headers["x-request-id"] = str(uuid.uuid4())
    headers["timezone"] = timezone_header()
    if stream:
        headers["Accept"] = "text/event-stream"
        headers["x-accel-buffering"] = "no"
    jar = dict(cookies or {})
    if token:
        jar["token"] = token
        headers["Authorization"] = f"Bearer {token}"
    if jar:
        headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in jar.items())
    for name, value in (anti_bot or {}).items():
        if value:
            headers[name] = value
    return headers
