"""Running an audio or embeddings call on one pooled account: admitted into its scheduler class, restricted to
the account kinds that serve the endpoint, failing over before the first byte like chat does.

Chat's `Gateway.stream` speaks neutral chat events; speech and embeddings speak bytes and vectors, so they
get this small sibling of it instead: the same scheduler, the same pool, the same learning from outcomes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TypeVar

from qwen_server.core import cleanup
from qwen_server.core.errors import GatewayError, UpstreamTimeout
from qwen_server.pool.choice import Choice, Outcome
from qwen_server.pool.pool import AccountPool
from qwen_server.pool.retry_budget import RETRY_PATIENCE
from qwen_server.providers.base import Account
from qwen_server.scheduler.base import Offer, RequestClass, Scheduler

T = TypeVar("T")
MAX_ATTEMPTS = 4
Call = Callable[[Account, str], AsyncIterator[T]]  # (account, model) -> what the upstream answers


@dataclass(slots=True)
class KindClaim:
    """An account slot on an account of one of `kinds` (the catalogue's capability, not the chat model
    listings), taken when it is the request's turn; `model` keys the pool's statistics."""

    pool: AccountPool
    model: str
    kinds: frozenset[str]
    key: str = field(init=False)

    def __post_init__(self) -> None:
        self.key = f"{self.model}|{','.join(sorted(self.kinds))}"

    def accept(self, account: Account) -> bool:
        return account.kind in self.kinds

    async def take(self) -> Choice | None:
        return await self.pool.choose(self.model, accept=self.accept)

    async def give_back(self, value: Choice) -> None:
        await self.pool.release(value)

    async def offer(self) -> Offer[Choice] | None:
        return await self.pool.offer(self.model, None, self.accept)

    def deferred_release(self, value: Choice) -> tuple[str, str] | None:
        return self.pool.deferred_release(value)

    def released(self, value: Choice) -> None:
        self.pool.released(value)


async def on_account(
    pool: AccountPool,
    scheduler: Scheduler,
    cls: RequestClass,
    tenant: str,
    model: str,
    kinds: frozenset[str],
    call: Call[T],
    *,
    first_byte_timeout: float,
) -> AsyncIterator[T]:
    """What `call` yields on an admitted account. Until its first item another account may be tried; after
    it, failures surface as they are. The account's outcome is recorded whichever way it ends."""
    claim = KindClaim(pool, model, kinds)
    pool.retries.begin()  # a request in flight, as the retry budget counts them
    try:
        async with aclosing(
            _admitted(pool, scheduler, cls, tenant, model, claim, call, first_byte_timeout)
        ) as items:
            async for item in items:
                yield item
    finally:
        pool.retries.end()


async def _admitted(
    pool: AccountPool,
    scheduler: Scheduler,
    cls: RequestClass,
    tenant: str,
    model: str,
    claim: KindClaim,
    call: Call[T],
    first_byte_timeout: float,
) -> AsyncGenerator[T, None]:
    async with scheduler.admit(cls, tenant, claim) as admitted:
        choice: Choice | None = admitted
        tried: set[str] = set()
        last: GatewayError | None = None
        for number in range(MAX_ATTEMPTS):
            retried = False
            if choice is None:
                if number:
                    if not await pool.allow_retry(patience=min(RETRY_PATIENCE, first_byte_timeout)):
                        break
                    retried = True  # given back once this attempt has settled
                try:
                    choice = await pool.wait_choose(
                        model, patience=first_byte_timeout, exclude=frozenset(tried), accept=claim.accept
                    )
                except BaseException as exc:  # nobody left, or the client went away while waiting
                    if retried:
                        pool.retry_done()
                    if not isinstance(exc, GatewayError) or last is None:
                        raise
                    break
            current, choice = choice, None
            outcome = Outcome(ok=False)
            started = time.monotonic()
            items = call(current.account, model)
            try:
                async with aclosing(items):  # type: ignore[type-var]
                    try:
                        async with asyncio.timeout(first_byte_timeout):
                            first = await anext(items)
                    except StopAsyncIteration:
                        outcome.ok = True
                        return
                    except TimeoutError:
                        raise UpstreamTimeout(f"no answer within {first_byte_timeout:.0f}s") from None
                    outcome.ttft = time.monotonic() - started
                    yield first
                    async for item in items:
                        yield item
                    outcome.ok = True
                    return
            except GatewayError as exc:
                outcome.error = exc
                if outcome.ttft is not None or not exc.retryable:
                    raise
                last = exc
                tried.add(current.account.id)
            finally:
                outcome.duration = time.monotonic() - started
                if retried:
                    pool.retry_done()
                await cleanup.complete(pool.record(current, outcome))
        if last is None:
            raise UpstreamTimeout("no account answered")
        last.gave_up = True  # type: ignore[attr-defined]
        raise last
