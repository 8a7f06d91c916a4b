"""Checking an account's credential itself, when a chat call was refused with 401/403 or an operator asks:
the account's own provider calls its cheapest authenticated endpoint (the `Verifier`).

A store lease lets one check run per account per `verify_seconds`, across instances. A refusal is reported
(`refused`: a strike under the auth rule) and its lease released so the next suspicion may be checked at once;
an accepted check keeps its lease, so a burst of per-model 403s costs one check, and is reported (`accepted`:
the auth strikes cleared). A timeout or any other error is inconclusive and changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from qwen_server.core.errors import GatewayError, UpstreamAuthError
from qwen_server.pool.choice import Verifier
from qwen_server.pool.state import verify_key
from qwen_server.providers.base import Account
from qwen_server.store.base import Store

log = logging.getLogger("qwen_server.pool")


class CredentialChecks:
    def __init__(
        self,
        store: Store,
        verify: Verifier | None,
        holder: Callable[[], str],
        *,
        refused: Callable[[Account, UpstreamAuthError], Awaitable[None]],
        accepted: Callable[[Account], Awaitable[None]],
        verify_seconds: float,
        verify_timeout: float,
    ) -> None:
        self._store = store
        self._verify = verify
        self._holder = holder
        self._refused = refused
        self._accepted = accepted
        self._seconds = verify_seconds
        self._timeout = verify_timeout
        self._running: set[asyncio.Task[bool | None]] = set()

    def in_background(self, account: Account) -> None:
        if self._verify is None:
            return
        task = asyncio.get_running_loop().create_task(self._logged(account))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _logged(self, account: Account) -> bool | None:
        """`check` in a task nobody awaits: a failure is logged, never left unretrieved."""
        try:
            return await self.check(account)
        except Exception:
            log.exception("credential check of account %s failed unexpectedly", account.name)
            return None

    async def check(self, account: Account) -> bool | None:
        """True if accepted, False if refused, None if not checked (another check ran within
        `verify_seconds`, or no verifier) or inconclusive (a timeout, a WAF page...)."""
        if self._verify is None:
            return None
        key = verify_key(account.id)
        holder = self._holder()
        if not await self._store.lease_acquire(key, holder, 1, self._seconds):
            return None
        try:
            async with asyncio.timeout(self._timeout):
                await self._verify(account)
        except TimeoutError:
            log.info("account %s: credential check timed out (inconclusive)", account.name)
            return None
        except UpstreamAuthError as exc:
            await self._store.lease_release(key, holder)
            log.warning("account %s: credential check refused: %s", account.name, exc.message)
            await self._refused(account, exc)
            return False
        except GatewayError as exc:
            log.info("account %s: credential check inconclusive: %s", account.name, exc.message)
            return None
        await self._accepted(account)
        return True

    async def settle(self) -> None:
        """Wait for the background checks started so far (tests use it)."""
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)
