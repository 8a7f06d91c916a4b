"""The browser-like header set the web API expects, as one editable table.

The WAF challenges incomplete header sets, and the write endpoints require `version: 0.2.0`. Anti-bot values
(`bx-v`, `bx-ua`, `bx-umidtoken`) are captured from a browser and given by env (QWEN_BX_*), never hard-wired.
"""

from __future__ import annotations

import time
import uuid

DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/142.0.0.0 Safari/537.36"
)
CLIENT_VERSION = "0.2.0"

BASE_HEADERS: dict[str, str] = {
    "Accept": "application/json",
    "Accept-Language": "en-US,en;q=0.9",
    "Content-Type": "application/json",
    "Connection": "keep-alive",
    "Sec-Fetch-Dest": "empty",
    "Sec-Fetch-Mode": "cors",
    "Sec-Fetch-Site": "same-origin",
    "sec-ch-ua": '"Chromium";v="142", "Google Chrome";v="142", "Not_A Brand";v="99"',
    "sec-ch-ua-mobile": "?0",
    "sec-ch-ua-platform": '"Windows"',
    "source": "web",
    "version": CLIENT_VERSION,
}


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
) -> dict[str, str]:
    headers = dict(BASE_HEADERS)
    headers["User-Agent"] = user_agent or DEFAULT_USER_AGENT
    headers["Origin"] = base_url
    headers["Referer"] = f"{base_url}/c/{chat_id}" if chat_id else f"{base_url}/"
    headers["x-request-id"] = str(uuid.uuid4())
    headers["timezone"] = timezone_header()
    if stream:
        headers["Accept"] = "text/event-stream"
        headers["x-accel-buffering"] = "no"
    if token:
        headers["Cookie"] = f"token={token}"
        headers["Authorization"] = f"Bearer {token}"
    for name, value in (anti_bot or {}).items():
        if value:
            headers[name] = value
    return headers
