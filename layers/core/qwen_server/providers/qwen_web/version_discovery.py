"""Reading the `version` the web app sends today from its own page and scripts, as a browser loads them.

`version_discovery` in `protocol.json` says where: the page path (at the account's base URL), the pattern that
finds the page's `<script src>`s, and the patterns that capture the version (tried on the page, then on each
script in page order). Scripts are read only from the page's own host or a host listed in `script_hosts`, at most
`max_scripts` of them and `max_bytes` each, following at most three redirects under the same rule. Nothing here
raises: what could not be read becomes the finding's reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

from qwen_server.core.errors import GatewayError
from qwen_server.providers.qwen_web import protocol
from qwen_server.providers.qwen_web.outdated import Finding
from qwen_server.providers.transport import Upstream

MAX_REDIRECTS = 3
# what an API call carries that a browser loading the page does not
_API_ONLY = ("authorization", "content-type", "version", "source", "x-request-id", "timezone", "x-accel-buffering")


class _Unreadable(Exception):
    """A page or script that could not be read; the message says why (no URL: it may carry a key)."""


def page_headers(api_headers: Mapping[str, str], rules: Mapping[str, Any]) -> dict[str, str]:
    """A browser's navigation headers: the API header set (user agent, cookies, client hints) without what only
    API calls carry, with `version_discovery.headers` over it."""
    headers = {k: v for k, v in api_headers.items() if k.lower() not in _API_ONLY}
    headers.pop("Accept", None)
    headers.update(rules.get("headers") or {})
    return headers


def _allowed(url: str, base_url: str, hosts: list[str]) -> bool:
    parts, base = urlsplit(url), urlsplit(base_url)
    if parts.scheme not in ("http", "https"):
        return False
    return parts.netloc == base.netloc or (parts.hostname or "") in hosts


async def _read(
    client_for: Callable[[str], Upstream], url: str, headers: Mapping[str, str], base_url: str, rules: Mapping[str, Any]
) -> tuple[str, str]:
    """(text, final URL) of one GET, redirects followed under the host rule, the body cut at `max_bytes`."""
    hosts = list(rules.get("script_hosts") or [])
    limit = int(rules["max_bytes"])
    for _ in range(MAX_REDIRECTS + 1):
        try:
            answer = await client_for(url).open("GET", url, headers=headers)
        except GatewayError as exc:
            raise _Unreadable(f"{urlsplit(url).path}: {exc.message}") from None
        try:
            location = answer.headers.get("location")
            if 300 <= answer.status < 400 and location:
                url = urljoin(url, location)
                if not _allowed(url, base_url, hosts):
                    raise _Unreadable(f"{urlsplit(url).path}: redirected to another host")
                continue
            if answer.status != 200:
                raise _Unreadable(f"{urlsplit(url).path}: HTTP {answer.status}")
            body = b""
            async for chunk in answer.chunks():
                body += chunk
                if len(body) >= limit:
                    break
            return body[:limit].decode("utf-8", errors="replace"), url
        except GatewayError as exc:
            raise _Unreadable(f"{urlsplit(url).path}: {exc.message}") from None
        finally:
            await answer.close()
    raise _Unreadable("too many redirects")


def _version_in(text: str, patterns: list[str]) -> str | None:
    for pattern in patterns:
        match = re.search(pattern, text)
        if match:
            return match.group(1)
    return None


async def discover(
    client_for: Callable[[str], Upstream],
    base_url: str,
    api_headers: Mapping[str, str],
    spec: protocol.Protocol | None = None,
) -> Finding:
    """The version the web app at `base_url` names today, or why it could not be read."""
    rules = (spec or protocol.current()).discovery
    if rules is None:
        return Finding(None, reason="version discovery is off (`version_discovery` removed by an override)")
    headers = page_headers(api_headers, rules)
    patterns: list[str] = rules["version_patterns"]
    try:
        page, page_url = await _read(client_for, base_url + rules["page"], headers, base_url, rules)
    except _Unreadable as exc:
        return Finding(None, reason=f"the page: {exc}")
    found = _version_in(page, patterns)
    if found:
        return Finding(found, where=urlsplit(page_url).path or "/")
    hosts = list(rules.get("script_hosts") or [])
    scripts = [urljoin(page_url, src) for src in re.findall(rules["script_src"], page)]
    scripts = [url for url in dict.fromkeys(scripts) if _allowed(url, base_url, hosts)][: int(rules["max_scripts"])]
    if not scripts:
        return Finding(None, reason="the page names no script on its own host (or `script_hosts`)")
    problems: list[str] = []
    script_headers = {**headers, "Accept": "*/*", "Sec-Fetch-Dest": "script", "Sec-Fetch-Mode": "no-cors"}
    script_headers.pop("Upgrade-Insecure-Requests", None)
    for url in scripts:
        try:
            text, _ = await _read(client_for, url, script_headers, base_url, rules)
        except _Unreadable as exc:
            problems.append(str(exc))
            continue
        found = _version_in(text, patterns)
        if found:
            return Finding(found, where=urlsplit(url).path)
    unread = f"; unread: {', '.join(problems)}" if problems else ""
    return Finding(None, reason=f"no version in the page or its {len(scripts)} script(s){unread}")
