"""The accounts' health as the store keeps it: each change is a compare-and-set on the live value (so changes
from every instance are kept), by the pure rules of `health.py`; and the error a request gets when no account
serving its model is available. Each failure is also told to the listeners (`AccountPool.on_failure`: the
admin page's recent errors)."""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable

from qwen_server.core.errors import GatewayError, NoAccounts, UpstreamRateLimited
from qwen_server.pool import health
from qwen_server.pool.health import FailureKind, HealthConfig, HealthState
from qwen_server.pool.state import StateCache, decode_health, encode_health, health_key
from qwen_server.providers.base import Account

HealthChange = Callable[[HealthState | None], HealthState | None]
FailureListener = Callable[[Account, GatewayError], None]
log = logging.getLogger("qwen_server.pool")


class HealthBook:
    def __init__(self, state: StateCache, rng: random.Random, config: HealthConfig, ttl: float) -> None:
        self._state = state
        self._rng = rng
        self._config = config
        self._ttl = ttl
        self.listeners: list[FailureListener] = []

    async def _change(self, account_id: str, change: HealthChange, *, rewrite: bool = False) -> None:
        """`change` applied to the stored health; an unchanged one is written only with `rewrite` (an
        operator's verdict is written even when it was already so)."""

        def stored(raw: bytes | None) -> bytes | None:
            old = decode_health(raw)
            new = change(old)
            return None if new is None or (new == old and not rewrite) else encode_health(new)

        await self._state.update(health_key(account_id), stored, ttl=self._ttl)

    async def succeeded(self, account_id: str) -> None:
        await self._change(account_id, health.on_success)

    async def failed(self, account: Account, kind: FailureKind, error: GatewayError | None, now: float) -> None:
        """A failed attempt or a refused credential check: told to the listeners, then a health change."""
        if error is not None:
            self._tell(account, error)

        def change(old: HealthState | None) -> HealthState | None:
            return health.on_failure(
                old,
                kind,
                now,
                self._rng,
                self._config,
                retry_after=error.retry_after if error is not None else None,
                message=(error.message[:200] if error is not None else ""),
            )

        await self._change(account.id, change)

    def _tell(self, account: Account, error: GatewayError) -> None:
        for listener in self.listeners:
            try:
                listener(account, error)
            except Exception:  # a view must never break recording
                log.exception("a failure listener failed")

    async def verified(self, account_id: str, now: float) -> None:
        """The credential was accepted: the auth strikes are cleared (a lapsed disable is back for good)."""
        await self._change(account_id, lambda old: health.on_verified(old, now))

    async def disable(self, account_id: str, reason: str, until: float | None) -> None:
        await self._change(account_id, lambda old: health.disable(old, reason, until), rewrite=True)

    async def enable(self, account_id: str) -> None:
        await self._change(account_id, health.enable, rewrite=True)


def unavailable(
    model: str, accounts: list[Account], healths: dict[str, HealthState | None], now: float
) -> GatewayError:
    """No account serving `model` is available: all disabled (no use waiting), or the first cooling down
    is back in `retry_after`."""
    states = {a.id: health.status(healths[a.id], now) for a in accounts}
    waiting = [s.until for s in states.values() if s.until is not None]
    if not waiting:
        reasons = "; ".join(f"{aid}: {s.reason}" for aid, s in states.items())
        return NoAccounts(f"every account serving {model!r} is disabled ({reasons})")
    retry_after = max(1, math.ceil(min(waiting) - now))
    return UpstreamRateLimited(
        f"every account serving {model!r} is cooling down; the first is back in {retry_after}s",
        retry_after=retry_after,
    )
