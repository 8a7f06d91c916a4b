"""Cookies the upstream sets, kept per account in the store and sent back, as a browser would.

The WAF hands out cookies (`acw_tc`, `ssxmod_itna*`, ...) and may expect them back on later calls; a
refreshed browser session (`qwen-server login`) lands here too. Each instance reads an account's jar through a
local copy at most `max_age` seconds old, and writes only when a cookie changed, so the usual request costs
no store round trip. The `token` cookie is the token manager's business, not the jar's.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from http.cookies import CookieError, SimpleCookie

import orjson

from qwen_server.providers.base import Account
from qwen_server.store.base import Store

JAR_TTL = 30 * 86400.0
TOKEN_COOKIE = "token"


def jar_key(account: Account) -> str:
    return f"qwen:cookies:{account.id}"


def parse_set_cookies(values: Iterable[str]) -> tuple[dict[str, str], set[str]]:
    """(cookies set, cookies deleted) from `Set-Cookie` values; the token cookie is left out."""
    kept: dict[str, str] = {}
    gone: set[str] = set()
    for raw in values:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(raw)
        except CookieError:
            continue
        for name, morsel in jar.items():
            if name == TOKEN_COOKIE:
                continue
            if morsel["max-age"] in ("0", "-1") or not morsel.value:
                gone.add(name)
            else:
                kept[name] = morsel.value
    return kept, gone


class SessionJar:
    """Per-account cookies in the store, behind a short-lived local copy."""

    def __init__(self, store: Store, max_age: float = 30.0) -> None:
        self._store = store
        self._max_age = max_age
        self._local: dict[str, tuple[dict[str, str], float]] = {}

    async def cookies(self, account: Account) -> dict[str, str]:
        """The account's configured session cookies, overlaid with those the upstream set since."""
        base = dict(account.cookies)
        cached = self._local.get(account.id)
        if cached is None or time.monotonic() - cached[1] > self._max_age:
            raw = await self._store.get(jar_key(account))
            learned: dict[str, str] = orjson.loads(raw) if raw else {}
            cached = (learned, time.monotonic())
            self._local[account.id] = cached
        return {**base, **cached[0]}

    def peek(self, account: Account) -> dict[str, str]:
        """The cookies as this instance last read them, without I/O (`cookies` reads the store when stale)."""
        cached = self._local.get(account.id)
        return {**dict(account.cookies), **(cached[0] if cached else {})}

    async def absorb(self, account: Account, set_cookies: Iterable[str]) -> None:
        """Keep the cookies of one answer's `Set-Cookie` headers; a write only when something changed."""
        kept, gone = parse_set_cookies(set_cookies)
        if not kept and not gone:
            return
        current = await self.cookies(account)
        learned = dict(self._local[account.id][0])
        if all(current.get(k) == v for k, v in kept.items()) and not (gone & current.keys()):
            return
        learned.update(kept)
        for name in gone:
            learned.pop(name, None)
        await self.replace(account, learned)

    async def replace(self, account: Account, cookies: dict[str, str]) -> None:
        """Put a whole jar in place (a fresh browser session)."""
        cookies = {k: v for k, v in cookies.items() if k != TOKEN_COOKIE}
        await self._store.set(jar_key(account), orjson.dumps(cookies), ttl=JAR_TTL)
        self._local[account.id] = (cookies, time.monotonic())
