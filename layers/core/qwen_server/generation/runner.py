"""Running one unit of media work on an account: the scheduler's `media` class, the pool's choice and slots,
failover, and per-capability quotas.

A unit (one image turn, one video submission) is admitted like a chat request (`scheduler.admit("media",
tenant, claim)`, the claim taking a pool slot on an account that can do the work), so account slots,
fairness, failover and cleanup are the chat path's. Which accounts can: those whose kind has a flow for the
capability and model (`catalog.MediaModel.upstream`), whose chat model list has the web's chat model (web
accounts), and whose quota for the capability is not spent (`quota`). A rate limit on a media call spends
that account's quota for the capability only: the attempt is recorded to the pool as neither success nor
failure, so the account's health, and with it its chat, is untouched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from qwen_server.core import cleanup
from qwen_server.core.errors import GatewayError, NotFound, UpstreamRateLimited
from qwen_server.generation import quota
from qwen_server.generation.catalog import MediaModel
from qwen_server.pool.choice import AccountSource, Choice, Outcome
from qwen_server.pool.pool import AccountPool
from qwen_server.pool.retry_budget import RETRY_PATIENCE
from qwen_server.providers.base import Account
from qwen_server.providers.media import MediaProvider
from qwen_server.scheduler.base import Offer, Scheduler
from qwen_server.store.base import Store

log = logging.getLogger("qwen_server.generation")
T = TypeVar("T")
Work = Callable[[Account, str, MediaProvider], Awaitable[T]]
MAX_ATTEMPTS = 4


@dataclass(slots=True)
class MediaClaim:
    """The scheduler's claim for a media unit: a pool slot on an account `accept` lets through."""

    pool: AccountPool
    key: str  # the pool's arm name for this work, e.g. "image:wanx2.1-t2i-turbo"
    accept: Callable[[Account], bool]

    async def take(self) -> Choice | None:
        return await self.pool.choose(self.key, accept=self.accept)

    async def give_back(self, value: Choice) -> None:
        await self.pool.release(value)

    async def offer(self) -> Offer[Choice] | None:
        return None  # the pool's one-round-trip offer knows model lists only: `take` decides

    def deferred_release(self, value: Choice) -> tuple[str, str] | None:
        return None

    def released(self, value: Choice) -> None:
        return None


class MediaRunner:
    def __init__(
        self,
        pool: AccountPool,
        scheduler: Scheduler,
        store: Store,
        providers: dict[str, MediaProvider],
        web_model: str,
        patience: float = 60.0,
    ) -> None:
        self.pool = pool
        self.scheduler = scheduler
        self.store = store
        self.providers = providers
        self.web_model = web_model
        self.patience = patience

    def eligible(self, model: MediaModel, *, edit: bool = False, i2v: bool = False) -> dict[str, str]:
        """Account id -> upstream model, for every account that can do this work at all."""
        raw = {a.id: a for a in _source(self.pool).accounts()}
        out: dict[str, str] = {}
        for account in self.pool.accounts():
            if account.kind not in self.providers:
                continue
            upstream = model.upstream(account.kind, self.web_model, edit=edit, i2v=i2v)
            if upstream is None:
                continue
            # web accounts draw with a chat model, which their (listed) models must have; other kinds are
            # held to the models their configuration names, if any (chat listings do not name media models)
            listed = account.models if account.kind == "qwen-web" else raw.get(account.id, account).models
            if listed is None or upstream in listed:
                out[account.id] = upstream
        return out

    async def run(
        self, tenant: str, model: MediaModel, work: Work[T], *, edit: bool = False, i2v: bool = False
    ) -> tuple[T, Account]:
        """`work` done on an account that can, with failover; its result and the account that did it."""
        capability = model.capability
        eligible = self.eligible(model, edit=edit, i2v=i2v)
        if not eligible:
            what = "image edits" if edit else f"{capability}s"
            raise NotFound(f"no configured account can make {what} with {model.name!r}", param="model")
        tried: set[str] = set()
        blocked = await self._spent(capability, eligible)

        def accept(account: Account) -> bool:
            return account.id in eligible and account.id not in blocked and account.id not in tried

        key = f"{capability}:{model.name}"
        self.pool.retries.begin()  # a request in flight, as the retry budget counts them
        try:
            async with self.scheduler.admit("media", tenant, MediaClaim(self.pool, key, accept)) as admitted:
                choice: Choice | None = admitted
                last: GatewayError | None = None
                for number in range(MAX_ATTEMPTS):
                    retried = False
                    if choice is None:
                        if number:
                            if not await self.pool.allow_retry(patience=RETRY_PATIENCE):
                                break
                            retried = True  # a retry slot is held until this attempt settles
                        try:
                            choice = await self.pool.wait_choose(key, patience=self.patience, accept=accept)
                        except BaseException as exc:  # nobody left, or the client went away while waiting
                            if retried:
                                self.pool.retry_done()
                            if not isinstance(exc, GatewayError):
                                raise
                            break
                    account = choice.account
                    outcome = Outcome(ok=False)
                    started = time.monotonic()
                    try:
                        result = await work(account, eligible[account.id], self.providers[account.kind])
                        outcome.ok = True
                        return result, account
                    except UpstreamRateLimited as exc:
                        until = await quota.spend(
                            self.store, capability, account.id, exc.retry_after, time.time()
                        )
                        blocked[account.id] = until
                        last = exc
                    except GatewayError as exc:
                        outcome.error = exc
                        last = exc
                        if not exc.retryable:
                            raise
                    finally:
                        outcome.duration = time.monotonic() - started
                        if retried:
                            self.pool.retry_done()
                        await cleanup.complete(self.pool.record(choice, outcome))
                    tried.add(account.id)
                    choice = None
                raise self._gave_up(capability, eligible, blocked, last)
        finally:
            self.pool.retries.end()

    async def _spent(self, capability: str, eligible: dict[str, str]) -> dict[str, float]:
        blocked = await quota.spent(self.store, capability, list(eligible), time.time())
        if len(blocked) == len(eligible):
            raise self._all_spent(capability, blocked)
        return blocked

    def _gave_up(
        self, capability: str, eligible: dict[str, str], blocked: dict[str, float], last: GatewayError | None
    ) -> GatewayError:
        if blocked and all(aid in blocked for aid in eligible):
            return self._all_spent(capability, blocked)
        if last is None:
            return UpstreamRateLimited(f"no account could take the {capability} request", retry_after=1.0)
        last.gave_up = True  # type: ignore[attr-defined]
        return last

    @staticmethod
    def _all_spent(capability: str, blocked: dict[str, float]) -> GatewayError:
        wait = max(1.0, min(blocked.values()) - time.time())
        return UpstreamRateLimited(
            f"every account's {capability} quota is spent; the first resets in {wait:.0f}s",
            code=f"{capability}_quota_exhausted",
            retry_after=wait,
        )


def _source(pool: AccountPool) -> AccountSource:
    """The configured accounts before model lists narrowed them (the pool's source may be the directory)."""
    registry = pool.registry
    source: AccountSource = getattr(registry, "source", registry)
    return source
