"""Choosing the account for a request, and learning from how it went.

First version: least-loaded healthy account, with a simple cooldown after failures. The interface
(`choose`, `record`, `snapshot`) is what the gateway relies on; the selection inside is replaceable.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from qwen_server.core.errors import GatewayError, NoAccounts, UpstreamRateLimited
from qwen_server.pool.registry import AccountRegistry
from qwen_server.providers.base import Account
from qwen_server.store.base import Store


@dataclass(slots=True)
class Outcome:
    """How one attempt on one account went."""

    ok: bool
    error: GatewayError | None = None
    ttft: float | None = None  # seconds to first event
    tokens_per_s: float | None = None
    duration: float | None = None


@dataclass(slots=True)
class Choice:
    account: Account
    model: str
    started: float = field(default_factory=time.monotonic)


NO_ACCOUNTS_MESSAGE = (
    "no upstream accounts are configured: set QWEN_ACCOUNTS to a JSON list such as "
    '[{"email": "you@example.com", "password": "..."}] or put them in qwen_accounts.json '
    "(or QWEN_ACCOUNTS_FILE); run `qwen-server serve --emulate` to try the gateway without accounts"
)


class AccountPool:
    def __init__(
        self,
        registry: AccountRegistry,
        store: Store,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.registry = registry
        self.store = store
        self._clock = clock
        self._rng = rng or random.Random()
        self._in_flight: dict[str, int] = {}
        self._cooldown_until: dict[str, float] = {}
        self._stats: dict[str, dict[str, float]] = {}

    def accounts(self) -> list[Account]:
        return self.registry.accounts()

    async def choose(
        self, model: str, *, session_id: str | None = None, exclude: frozenset[str] = frozenset()
    ) -> Choice:
        accounts = self.accounts()
        if not accounts:
            raise NoAccounts(NO_ACCOUNTS_MESSAGE)
        now = self._clock()
        candidates = [
            a
            for a in accounts
            if a.id not in exclude
            and (a.models is None or model in a.models)
            and self._cooldown_until.get(a.id, 0.0) <= now
            and self._in_flight.get(a.id, 0) < a.max_concurrent
        ]
        if not candidates:
            raise UpstreamRateLimited("every account is cooling down or busy; try again shortly", retry_after=1)
        self._rng.shuffle(candidates)
        account = min(candidates, key=lambda a: self._in_flight.get(a.id, 0))
        self._in_flight[account.id] = self._in_flight.get(account.id, 0) + 1
        return Choice(account=account, model=model)

    async def allow_retry(self) -> bool:
        """Whether one more attempt fits the retry budget."""
        return True

    async def record(self, choice: Choice, outcome: Outcome) -> None:
        aid = choice.account.id
        self._in_flight[aid] = max(0, self._in_flight.get(aid, 1) - 1)
        stats = self._stats.setdefault(aid, {"successes": 0, "failures": 0})
        if outcome.ok:
            stats["successes"] += 1
            return
        stats["failures"] += 1
        error = outcome.error
        if error is not None and error.retryable:
            delay = error.retry_after if error.retry_after else 5.0
            self._cooldown_until[aid] = self._clock() + delay

    async def snapshot(self) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for account in self.accounts():
            stats = self._stats.get(account.id, {"successes": 0, "failures": 0})
            out.append(
                {
                    **account.public(),
                    "in_flight": self._in_flight.get(account.id, 0),
                    "cooldown_until": self._cooldown_until.get(account.id),
                    "successes": int(stats["successes"]),
                    "failures": int(stats["failures"]),
                }
            )
        return out
