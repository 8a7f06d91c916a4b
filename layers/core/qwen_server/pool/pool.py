"""Choosing the account for a request, and learning from how it went.

`choose` filters the configured accounts by hard constraints (serves the model, not excluded by the caller's
failover loop, not disabled / cooling down / ejected: `health.py`), keeps a session on its pinned account
while that account stays available, probes an account whose login was refused once (so the question gets
settled), and otherwise ranks the candidates by discounted Thompson sampling with a latency-aware score
(`bandit.py`), taking a concurrency slot (a store lease) on the first one that has room.
`record` releases the slot and folds the outcome into the arm's posterior and the account's health. A chat
call refused with 401/403 (`UpstreamForbidden`) only counts against its (account, model) arm; `record` then
has the credential itself checked in the background (`verify_account`; a store lease lets one check run per
account, and an accepted one stands for `verify_seconds`), and only a refused check feeds the auth rule of
`health.py`: requests alone never disable an account.

Everything shared lives in the store (`state.py`); the only local state is a read cache at most
`max_staleness` seconds old, so any number of instances share one view. The gateway's failover loop is:
choose -> try -> on a retryable error before the first byte `record` the failure and, if `allow_retry()`,
choose again with `exclude` = the accounts already tried; else give up. The budget counts requests and
retries in flight in this process (`retries`: the gateway brackets each request, and gives a retry back when
its attempt settles). `choose` answers None when every available account is at its `max_concurrent`: the
scheduler queues the request for the next free slot (`gateway.AccountClaim`). Held slots are renewed on a
timer (`held.py`) and freed by `record` (or `release`, for a slot never used).

Around the choosing and learning here: `choice.py` (what is handed out and taken back), `config.py`,
`held.py` (slot bookkeeping), `writebehind.py` (statistics and pins written behind), `credentials.py`
(credential checks) and `report.py` (the operator's view).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar, cast

from qwen_server.core.errors import (
    GatewayError,
    NoAccounts,
    NotFound,
    Overloaded,
    UpstreamAuthError,
    UpstreamError,
)
from qwen_server.pool import bandit, health, report
from qwen_server.pool.choice import AccountSource, Choice, Outcome, Verifier
from qwen_server.pool.config import PoolConfig
from qwen_server.pool.credentials import CredentialChecks
from qwen_server.pool.health import FailureKind, HealthState
from qwen_server.pool.health_book import HealthBook, unavailable
from qwen_server.pool.held import SLOT_POLL_SECONDS, HeldSlots
from qwen_server.pool.retry_budget import RetryGate
from qwen_server.pool.state import (
    StateCache,
    arm_key,
    decode_arm,
    decode_health,
    encode_arm,
    health_key,
    pin_key,
    probe_key,
    slots_key,
)
from qwen_server.pool.writebehind import WriteBehind
from qwen_server.providers.base import Account
from qwen_server.scheduler.base import Offer
from qwen_server.store.base import Lease, Store

log = logging.getLogger("qwen_server.pool")
T = TypeVar("T")
RETRY_POLL_SECONDS = 0.05  # how often a retry waiting on a full budget looks again
NO_ACCOUNTS_MESSAGE = (
    "no upstream accounts are configured: set QWEN_ACCOUNTS to a JSON list such as "
    '[{"email": "you@example.com", "password": "..."}] or put them in qwen_accounts.json '
    "(or QWEN_ACCOUNTS_FILE); run `qwen-server serve --emulate` to try the gateway without accounts"
)


class AccountPool:
    def __init__(
        self,
        registry: AccountSource,
        store: Store,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        config: PoolConfig | None = None,
        instance: str | None = None,
        verify: Verifier | None = None,
    ) -> None:
        self.registry = registry
        self.store = store
        self.config = config or PoolConfig()
        self._clock = clock
        self._rng = rng or random.Random()
        self._instance = instance or f"{self._rng.getrandbits(32):08x}"
        self._state = StateCache(store, clock, max_staleness=self.config.max_staleness)
        self._known_ids: frozenset[str] = frozenset()
        self._memo: dict[bytes, object] = {}
        self._slots = HeldSlots(store, self.config.lease_seconds)
        self._health = HealthBook(self._state, self._rng, self.config.health, self.config.state_ttl)
        self._behind = WriteBehind(
            store,
            self._state,
            clock,
            pin_seconds=self.config.pin_seconds,
            flush_seconds=self.config.flush_seconds,
        )
        self._checks = CredentialChecks(
            store,
            verify,
            self._holder,
            refused=self._credential_refused,
            accepted=self._credential_accepted,
            verify_seconds=self.config.verify_seconds,
            verify_timeout=self.config.verify_timeout,
        )
        self.retries = RetryGate(self.config.budget)  # requests and retries in flight in this process

    def _holder(self) -> str:
        """A fresh lease holder name: this instance, then random bits."""
        return f"{self._instance}:{self._rng.getrandbits(48):012x}"

    def accounts(self) -> list[Account]:
        accounts = self.registry.accounts()
        ids = frozenset(a.id for a in accounts)
        if ids != self._known_ids:
            self._known_ids = ids
            self._state.forget(lambda key: False)  # a 1 s cache: cheaper to drop than to sort out
        return accounts

    # ---- choosing ------------------------------------------------------------------------------------
    async def choose(
        self,
        model: str,
        *,
        session_id: str | None = None,
        exclude: frozenset[str] = frozenset(),
        accept: Callable[[Account], bool] | None = None,
    ) -> Choice | None:
        """An account slot for `model`, or None when every available account is at its `max_concurrent`.

        Raises when no account can serve the model at all (none configured, none serving it, every one
        tried, disabled or cooling down): waiting would not help then."""
        return await self._choose(model, session_id, exclude, accept)

    async def offer(
        self, model: str, session_id: str | None, accept: Callable[[Account], bool] | None = None
    ) -> Offer[Choice] | None:
        """The slot `choose` would try first, named but not taken, for a caller that takes it in the same
        store round trip as something else (the scheduler's class slot). None when the choice needs more
        than the cached state (no account can serve the model, one awaits a probe): call `choose` then."""
        try:
            candidates, healths, values, now = await self._candidates(model, frozenset(), accept)
        except GatewayError:
            return None
        if any(health.suspect(healths[aid], now) for aid in candidates):
            return None
        pinned_id = await self._pinned(session_id)
        if session_id and pinned_id in candidates:
            aid = pinned_id
        else:
            arms = {aid: self._decoded(values[arm_key(aid, model)], decode_arm) for aid in candidates}
            aid = next(iter(bandit.rank(arms, now, self.config.bandit, self._rng)))[0]
        account = candidates[aid]
        holder = self._holder()
        lease = Lease(slots_key(aid), holder, max(1, account.max_concurrent), self.config.lease_seconds)

        def adopt() -> Choice:
            choice = Choice(account, model, started=self._clock(), holder=holder, session_id=session_id)
            self._slots.hold(choice)
            if session_id:
                self._behind.pin(session_id, aid)
            return choice

        return Offer(lease, adopt)

    async def _candidates(
        self, model: str, exclude: frozenset[str], accept: Callable[[Account], bool] | None = None
    ) -> tuple[dict[str, Account], dict[str, HealthState | None], dict[str, bytes | None], float]:
        """The accounts that may serve `model` now, with the cached state they were judged on. `accept`, when
        given, decides which accounts serve the request instead of their model lists (an endpoint that only
        some account kinds have, such as embeddings or speech, whose models chat listings do not name)."""
        accounts = self.accounts()
        if not accounts:
            raise NoAccounts(NO_ACCOUNTS_MESSAGE)
        if accept is not None:
            serving = [a for a in accounts if accept(a)]
        else:
            serving = [a for a in accounts if a.models is None or model in a.models]
        if not serving:
            raise NotFound(f"no configured account serves the model {model!r}", param="model")
        open_ = [a for a in serving if a.id not in exclude]
        if not open_:
            raise UpstreamError(f"all {len(serving)} account(s) serving {model!r} were tried already")
        values = await self._state.read_many(
            [health_key(a.id) for a in open_] + [arm_key(a.id, model) for a in open_]
        )
        now = self._clock()
        healths = {a.id: self._decoded(values[health_key(a.id)], decode_health) for a in open_}
        candidates = {a.id: a for a in open_ if health.available(healths[a.id], now)}
        if not candidates:
            raise unavailable(model, open_, healths, now)
        return candidates, healths, values, now

    async def _choose(
        self,
        model: str,
        session_id: str | None,
        exclude: frozenset[str],
        accept: Callable[[Account], bool] | None = None,
    ) -> Choice | None:
        candidates, healths, values, now = await self._candidates(model, exclude, accept)
        pinned_id = await self._pinned(session_id)
        if session_id and pinned_id in candidates:
            choice = await self._acquire(candidates[pinned_id], model, session_id)
            if choice is not None:  # busy: serve elsewhere this once, but keep the pin
                self._behind.pin(session_id, pinned_id)
                return choice
        probe = await self._probe(candidates, healths, model, session_id, now)
        if probe is not None:
            return probe
        arms = {aid: self._decoded(values[arm_key(aid, model)], decode_arm) for aid in candidates}
        for aid, _score in bandit.rank(arms, now, self.config.bandit, self._rng):
            choice = await self._acquire(candidates[aid], model, session_id)
            if choice is None:
                continue
            if session_id and pinned_id not in candidates:  # no pin, or the pinned account is unavailable
                self._behind.pin(session_id, aid, renew=False)
            return choice
        return None  # every available account is at its max_concurrent: the caller waits for a slot

    async def _probe(
        self,
        candidates: dict[str, Account],
        healths: dict[str, HealthState | None],
        model: str,
        session_id: str | None,
        now: float,
    ) -> Choice | None:
        """One attempt at a time, ahead of sampling, on an account whose credentials were refused once.

        Its posterior alone would keep it out of rotation without ever settling the question; a probe
        either clears it or, failing, disables it with the reason. The probe lease lets one instance probe
        per `probe_seconds`; a failed probe costs its request one failover.
        """
        for aid in [aid for aid in candidates if health.suspect(healths[aid], now)]:
            holder = self._holder()
            if await self.store.lease_acquire(probe_key(aid), holder, 1, self.config.probe_seconds):
                choice = await self._acquire(candidates[aid], model, session_id)
                if choice is not None:
                    return choice
        return None

    def _decoded(self, raw: bytes | None, decode: Callable[[bytes | None], T]) -> T:
        """Decode once per distinct stored value: choose() re-reads the same cached bytes many times."""
        if raw is None:
            return decode(None)
        hit = self._memo.get(raw)
        if hit is None:
            if len(self._memo) > 4096:
                self._memo.clear()
            hit = self._memo[raw] = decode(raw)
        return cast(T, hit)

    async def _pinned(self, session_id: str | None) -> str | None:
        """The session's account, read through the state cache (a pin is at most `max_staleness` old)."""
        if not session_id:
            return None
        key = pin_key(session_id)
        raw = (await self._state.read_many([key]))[key]
        return raw.decode() if raw is not None else None

    async def _acquire(self, account: Account, model: str, session_id: str | None) -> Choice | None:
        def made() -> Choice:
            return Choice(account, model, started=self._clock(), holder=holder, session_id=session_id)

        holder = self._holder()
        return await self._slots.take(account, model, holder, made)

    def on_failure(self, listener: Callable[[Account, GatewayError], None]) -> None:
        """Call `listener` with each failed attempt's account and error, and each refused credential check
        (the recent-errors view of the admin page; `HealthBook.failed` calls it)."""
        self._health.listeners.append(listener)

    def on_release(self, listener: Callable[[], None]) -> None:
        """Call `listener` whenever this instance frees an account slot (waiters for one look again)."""
        self._slots.listeners.append(listener)

    async def wait_choose(
        self,
        model: str,
        *,
        patience: float,
        session_id: str | None = None,
        exclude: frozenset[str] = frozenset(),
        accept: Callable[[Account], bool] | None = None,
    ) -> Choice:
        """`choose`, waiting up to `patience` seconds for a slot when every account is busy.

        For an admitted request's later attempts (failover, a contract retry); first attempts queue in the
        scheduler, which keeps their order. Raises `Overloaded` when no slot came free in time."""
        deadline = time.monotonic() + patience
        while True:
            choice = await self.choose(model, session_id=session_id, exclude=exclude, accept=accept)
            if choice is not None:
                return choice
            left = deadline - time.monotonic()
            if left <= 0:
                raise Overloaded(
                    f"every account serving {model!r} stayed at its concurrency limit for {patience:g}s",
                    code="account_slots_busy",
                    retry_after=1.0,
                )
            await self._slots.freed(min(left, SLOT_POLL_SECONDS))

    @staticmethod
    def deferred_release(choice: Choice) -> tuple[str, str] | None:
        """The (group, holder) of a slot `record` left held for its caller to free, if any."""
        return HeldSlots.deferred_release(choice)

    def released(self, choice: Choice) -> None:
        """The caller freed a deferred slot: forget it here and wake whoever waits for one."""
        self._slots.released(choice)

    async def release(self, choice: Choice) -> None:
        """Free a slot that was never used (its request left before the attempt began): nothing to learn."""
        if choice.recorded:
            return
        choice.recorded = True
        await self._slots.give_back(choice)

    # ---- learning ------------------------------------------------------------------------------------
    async def record(self, choice: Choice, outcome: Outcome, *, release: bool = True) -> None:
        """Free the attempt's slot and learn from it. Recording a choice twice does nothing.

        With `release=False` the slot stays held for the caller to free with something else in one round
        trip (`deferred_release`, then `released`)."""
        if choice.recorded:
            return
        choice.recorded = True
        aid = choice.account.id
        if release:
            await self._slots.give_back(choice)
        else:
            choice.deferred = True
        now = self._clock()
        kind = None if outcome.ok else health.classify(outcome.error)
        weight = 1.0 if kind is None else self.config.failure_weights.get(kind, 1.0)
        if weight > 0:
            await self._update_arm(choice, outcome, now, weight)
        if kind is None:
            await self._health.succeeded(aid)
        else:
            await self._health.failed(choice.account, kind, outcome.error, now)
        if kind is FailureKind.AUTH:
            await self._probe_settled(aid)
        if kind is FailureKind.FORBIDDEN:
            self._checks.in_background(choice.account)

    async def _update_arm(self, choice: Choice, outcome: Outcome, now: float, weight: float) -> None:
        aid, model = choice.account.id, choice.model
        failure_time = next(
            (v for v in (outcome.duration, outcome.ttft) if v is not None), max(0.0, now - choice.started)
        )

        def change(raw: bytes | None) -> bytes:
            arm = bandit.update(
                decode_arm(raw),
                now,
                self.config.bandit,
                success=outcome.ok,
                weight=weight,
                ttft=outcome.ttft,
                tokens_per_s=outcome.tokens_per_s,
                failure_time=failure_time,
            )
            return encode_arm(arm, aid, model)

        self._behind.update(arm_key(aid, model), change, ttl=self.config.state_ttl)

    async def disable(self, account_id: str, reason: str, *, seconds: float | None = None) -> None:
        """Take an account out of rotation for `seconds` (None: until `enable`, or its state expires)."""
        await self._health.disable(account_id, reason, None if seconds is None else self._clock() + seconds)

    async def enable(self, account_id: str) -> None:
        """Back in rotation now, whatever disabled it (the admin route)."""
        await self._health.enable(account_id)

    # ---- credential checks (credentials.py) ---------------------------------------------------------
    async def verify_account(self, account: Account) -> bool | None:
        """Check the account's credential now: True if accepted, False if refused, None if not checked or
        inconclusive (`CredentialChecks.check`)."""
        return await self._checks.check(account)

    async def _credential_refused(self, account: Account, error: UpstreamAuthError) -> None:
        """A strike under the auth rule (cooldown, then disabled at the second); the account is probed again
        as soon as it is suspect, since a refused account sees only probes."""
        await self._health.failed(account, FailureKind.AUTH, error, self._clock())
        await self._probe_settled(account.id)

    async def _credential_accepted(self, account: Account) -> None:
        await self._health.verified(account.id, self._clock())

    async def _probe_settled(self, account_id: str) -> None:
        """A refusal is the verdict a probe waits for: free the probe lease, so the account is probed as soon
        as it is suspect again (after its cooldown, or when a disable shorter than `probe_seconds` lapses)."""
        key = probe_key(account_id)
        for holder in await self.store.lease_holders(key):
            await self.store.lease_release(key, holder)

    async def settle(self) -> None:
        """Wait for the background credential checks started so far (tests use it)."""
        await self._checks.settle()

    async def flush(self) -> None:
        """Write what was learned behind: arm statistics and session pins (metrics and tests call it;
        otherwise a background task does every `flush_seconds`)."""
        await self._behind.flush()

    # ---- retry budget --------------------------------------------------------------------------------
    async def allow_retry(self, patience: float = 0.0) -> bool:
        """Whether one more attempt fits the retry budget; if so a retry slot is taken (give it back with
        `retry_done` once that attempt has settled). With `patience` a full budget is waited on for up to
        that many seconds: retries in flight stay within the budget, and a burst of failures (a cold start
        with failing accounts) delays some retries instead of failing their requests."""
        deadline = time.monotonic() + patience
        while not self.retries.try_retry():
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(RETRY_POLL_SECONDS)
        return True

    def retry_done(self) -> None:
        self.retries.retry_done()

    # ---- reporting (report.py) ----------------------------------------------------------------------
    async def snapshot(self) -> list[dict[str, object]]:
        """Per account: state and reason, posterior mean with 90 % interval, counts, in-flight, p50 TTFT."""
        await self.flush()
        return await report.snapshot(self.store, self.accounts(), self._clock(), self.config.bandit)
