"""The pool's way to renew a session the WAF rejects: the same headless sign-in as `qwen-server login`.

Only for accounts that allow it (`browser_login: true`, with email and password) and only where a Chromium is
installed. At most one refresh per account per `every` seconds across instances (a store key), run in the
background: the request that met the WAF has already failed over; later ones use the fresh session (its
cookies go to the account's jar in the store, its token to the token cache).
"""

from __future__ import annotations

import asyncio
import logging

from qwen_server.providers.base import Account
from qwen_server.providers.qwen_web.auth import TokenManager
from qwen_server.providers.qwen_web.jar import SessionJar
from qwen_server.store.base import Store

log = logging.getLogger("qwen_server.browser")


class BrowserRefresh:
    def __init__(
        self,
        store: Store,
        jar: SessionJar,
        tokens: TokenManager,
        *,
        user_agent: str | None = None,
        every: float = 600.0,
        seconds: float = 90.0,
    ) -> None:
        self._store, self._jar, self._tokens = store, jar, tokens
        self._user_agent = user_agent
        self._every, self._seconds = every, seconds
        self._tasks: set[asyncio.Task[None]] = set()

    def request(self, account: Account) -> None:
        """Start a refresh of `account` in the background when it allows one."""
        if not (account.browser_login and account.email and account.password):
            return
        task = asyncio.get_running_loop().create_task(self._refresh(account))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refresh(self, account: Account) -> None:
        from qwen_server.browser.chromium import BrowserMissing
        from qwen_server.browser.login import LoginFailed, capture_session

        if not await self._store.set_if_absent(f"qwen:browser-refresh:{account.id}", b"1", ttl=self._every):
            return
        log.info("account %s: the WAF refused its session; signing in with the browser", account.name)
        ua = account.user_agent or self._user_agent
        target = account if ua is None or ua == account.user_agent else _with_user_agent(account, ua)
        try:
            captured = await capture_session(target, seconds=self._seconds)
        except (BrowserMissing, LoginFailed, RuntimeError, TimeoutError, OSError) as exc:
            log.warning("account %s: browser sign-in failed: %s", account.name, exc)
            return
        await self._jar.replace(account, captured.cookies)
        token = captured.cookies.get("token")
        if token:
            await self._tokens.adopt(account, token)
        log.info("account %s: fresh browser session in use (%s)", account.name, ", ".join(sorted(captured.cookies)))

    async def settle(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _with_user_agent(account: Account, user_agent: str) -> Account:
    from dataclasses import replace

    return replace(account, user_agent=user_agent)
