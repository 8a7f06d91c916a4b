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
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar, cast

from qwen_server.core import cleanup
from qwen_server.core.errors import (
    GatewayError,
    NoAccounts,
    NotFound,
    Overloaded,
    UpstreamAuthError,
    UpstreamError,
    UpstreamRateLimited,
)
from qwen_server.pool import bandit, beta, health
from qwen_server.pool.bandit import ArmState, BanditConfig
from qwen_server.pool.health import FailureKind, HealthConfig, HealthState
from qwen_server.pool.held import SLOT_POLL_SECONDS, HeldSlots
from qwen_server.pool.retry_budget import RetryBudget, RetryGate
from qwen_server.pool.state import (
    ARM_PREFIX,
    StateCache,
    arm_key,
    arm_owner,
    decode_arm,
    decode_health,
    encode_arm,
    encode_health,
    health_key,
    pin_key,
    probe_key,
    slots_key,
    verify_key,
)
from qwen_server.providers.base import Account
from qwen_server.scheduler.base import Offer
from qwen_server.store.base import Lease, Store

log = logging.getLogger("qwen_server.pool")
T = TypeVar("T")
Verifier = Callable[[Account], Awaitable[None]]  # raises UpstreamAuthError when the credential is refused


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
    started: float = field(default_factory=time.time)
    holder: str = ""  # the concurrency lease this attempt holds
    session_id: str | None = None
    recorded: bool = False
    deferred: bool = False  # recorded, its slot still held for the caller to free (`deferred_release`)


PIN_RENEW_SECONDS = 60.0
RETRY_POLL_SECONDS = 0.05  # how often a retry waiting on a full budget looks again


class AccountSource(Protocol):
    """Where the accounts come from (`AccountRegistry`, or a list in tests)."""

    def accounts(self) -> list[Account]: ...


def _default_failure_weights() -> dict[FailureKind, float]:
    # How much of a failure counts against the arm's posterior: a WAF challenge is mostly not the
    # account's fault, a refused request not at all.
    return {
        FailureKind.RATE_LIMITED: 1.0,
        FailureKind.AUTH: 1.0,
        FailureKind.FORBIDDEN: 1.0,  # the arm is (account, model): a model refused here is avoided here
        FailureKind.UNSERVED: 1.0,
        FailureKind.BLOCKED: 0.25,
        FailureKind.SERVER: 1.0,
        FailureKind.NEUTRAL: 0.0,
    }


@dataclass(frozen=True, slots=True)
class PoolConfig:
    bandit: BanditConfig = field(default_factory=BanditConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    budget: RetryBudget = field(default_factory=RetryBudget)
    failure_weights: dict[FailureKind, float] = field(default_factory=_default_failure_weights)
    max_staleness: float = 1.0  # seconds a cached arm / health may be old when choosing
    lease_seconds: float = 60.0  # a dead instance's in-flight slot comes back after this; renewed while held
    pin_seconds: float = 900.0  # session affinity lifetime, renewed on each use
    probe_seconds: float = 30.0  # at most one probe per this long on an account with a refused login
    verify_seconds: float = 60.0  # an accepted (or inconclusive) credential check stands this long
    verify_timeout: float = 15.0  # a check that takes longer is inconclusive
    state_ttl: float = 7 * 86400.0  # arms and health of accounts nobody uses any more expire
    flush_seconds: float = 0.5  # statistics learned here reach the store (and other instances) this often


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
        self._verify = verify
        self._verifications: set[asyncio.Task[bool | None]] = set()
        self.retries = RetryGate(self.config.budget)  # requests and retries in flight in this process
        self._pins_written: dict[str, float] = {}  # pin key -> when this instance last wrote it
        self._pins_pending: dict[str, str] = {}  # pin key -> account id, for the next flush
        self._flusher: asyncio.Task[None] | None = None
        self._failure_listeners: list[Callable[[Account, GatewayError], None]] = []

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
        holder = f"{self._instance}:{self._rng.getrandbits(48):012x}"
        lease = Lease(slots_key(aid), holder, max(1, account.max_concurrent), self.config.lease_seconds)

        def adopt() -> Choice:
            choice = Choice(account, model, started=self._clock(), holder=holder, session_id=session_id)
            self._slots.hold(choice)
            if session_id:
                self._pin_later(session_id, aid)
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
            raise self._unavailable(model, open_, healths, now)
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
                self._pin_later(session_id, pinned_id)
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
                self._pin_later(session_id, aid, renew=False)
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
            holder = f"{self._instance}:{self._rng.getrandbits(48):012x}"
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

    def _pin_later(self, session_id: str, account_id: str, *, renew: bool = True) -> None:
        """Pin the session to `account_id` now in this instance's view, in the store off the request's path;
        an unchanged pin is written again (its TTL renewed) at most once a minute."""
        key = pin_key(session_id)
        now = self._clock()
        if renew and now - self._pins_written.get(key, -PIN_RENEW_SECONDS) < PIN_RENEW_SECONDS:
            return
        if len(self._pins_written) > 10_000:
            self._pins_written.clear()
        self._pins_written[key] = now
        self._state.remember(key, account_id.encode())
        self._pins_pending[key] = account_id
        self._flush_soon()

    async def _acquire(self, account: Account, model: str, session_id: str | None) -> Choice | None:
        holder = f"{self._instance}:{self._rng.getrandbits(48):012x}"
        slots = slots_key(account.id)
        taking = asyncio.ensure_future(
            self.store.lease_acquire(slots, holder, max(1, account.max_concurrent), self.config.lease_seconds)
        )
        try:
            taken = await asyncio.shield(taking)
        except asyncio.CancelledError:
            # The request left (a client gone while a failover or continuation waited for an account), but
            # the store may still grant the slot: once the call settles, give back whatever it took, or the
            # slot would stay held for the whole lease with nobody to use or renew it.
            cleanup.spawn(self._give_back_when_settled(taking, slots, holder))
            raise
        if not taken:
            return None
        choice = Choice(account, model, started=self._clock(), holder=holder, session_id=session_id)
        self._slots.hold(choice)
        return choice

    async def _give_back_when_settled(self, taking: asyncio.Future[bool], slots: str, holder: str) -> None:
        done = await asyncio.gather(taking, return_exceptions=True)
        if done[0] is True:
            await self.store.lease_release(slots, holder)

    def _unavailable(
        self, model: str, accounts: list[Account], healths: dict[str, HealthState | None], now: float
    ) -> GatewayError:
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

    def on_failure(self, listener: Callable[[Account, GatewayError], None]) -> None:
        """Call `listener` with each failed attempt's account and error, and each refused credential check
        (the recent-errors view of the admin page)."""
        self._failure_listeners.append(listener)

    def _failed(self, account: Account, error: GatewayError | None) -> None:
        if error is None:
            return
        for listener in self._failure_listeners:
            try:
                listener(account, error)
            except Exception:  # a view must never break recording
                log.exception("a failure listener failed")

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
            await self._slots.released(min(left, SLOT_POLL_SECONDS))

    @staticmethod
    def deferred_release(choice: Choice) -> tuple[str, str] | None:
        """The (group, holder) of a slot `record` left held for its caller to free, if any."""
        return (slots_key(choice.account.id), choice.holder) if choice.deferred else None

    def released(self, choice: Choice) -> None:
        """The caller freed a deferred slot: forget it here and wake whoever waits for one."""
        choice.deferred = False
        self._slots.let_go(choice)

    async def release(self, choice: Choice) -> None:
        """Free a slot that was never used (its request left before the attempt began): nothing to learn."""
        if choice.recorded:
            return
        choice.recorded = True
        try:
            await self.store.lease_release(slots_key(choice.account.id), choice.holder)
        finally:
            self._slots.let_go(choice)

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
            try:
                await self.store.lease_release(slots_key(aid), choice.holder)
            finally:
                self._slots.let_go(choice)
        else:
            choice.deferred = True
        now = self._clock()
        kind = None if outcome.ok else health.classify(outcome.error)
        if kind is not None:
            self._failed(choice.account, outcome.error)
        weight = 1.0 if kind is None else self.config.failure_weights.get(kind, 1.0)
        if weight > 0:
            await self._update_arm(choice, outcome, now, weight)
        await self._update_health(aid, outcome, kind, now)
        if kind is FailureKind.AUTH:
            await self._probe_settled(aid)
        if kind is FailureKind.FORBIDDEN:
            self._check_in_background(choice.account)

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

        self._state.update_later(arm_key(aid, model), change, ttl=self.config.state_ttl)
        self._flush_soon()

    async def _update_health(
        self, account_id: str, outcome: Outcome, kind: FailureKind | None, now: float
    ) -> None:
        error = outcome.error

        def change(raw: bytes | None) -> bytes | None:
            old = decode_health(raw)
            if kind is None:
                new = health.on_success(old)
            else:
                new = health.on_failure(
                    old,
                    kind,
                    now,
                    self._rng,
                    self.config.health,
                    retry_after=error.retry_after if error is not None else None,
                    message=(error.message[:200] if error is not None else ""),
                )
            return None if new is None or new == old else encode_health(new)

        await self._state.update(health_key(account_id), change, ttl=self.config.state_ttl)

    async def disable(self, account_id: str, reason: str, *, seconds: float | None = None) -> None:
        """Take an account out of rotation for `seconds` (None: until `enable`, or its state expires)."""
        until = None if seconds is None else self._clock() + seconds
        await self._state.update(
            health_key(account_id),
            lambda raw: encode_health(health.disable(decode_health(raw), reason, until)),
            ttl=self.config.state_ttl,
        )

    async def enable(self, account_id: str) -> None:
        """Back in rotation now, whatever disabled it (the admin route)."""
        await self._state.update(
            health_key(account_id),
            lambda raw: encode_health(health.enable(decode_health(raw))),
            ttl=self.config.state_ttl,
        )

    # ---- credential checks ---------------------------------------------------------------------------
    def _check_in_background(self, account: Account) -> None:
        if self._verify is None:
            return
        task = asyncio.get_running_loop().create_task(self._check_logged(account))
        self._verifications.add(task)
        task.add_done_callback(self._verifications.discard)

    async def _check_logged(self, account: Account) -> bool | None:
        """`verify_account` in a task nobody awaits: a failure is logged, never left unretrieved."""
        try:
            return await self.verify_account(account)
        except Exception:
            log.exception("credential check of account %s failed unexpectedly", account.name)
            return None

    async def verify_account(self, account: Account) -> bool | None:
        """Check the account's credential: True if accepted, False if refused, None if not checked (another
        check ran within `verify_seconds`, or no verifier) or inconclusive (a timeout, a WAF page...).

        A refusal is a strike under the auth rule (cooldown, then disabled at the second); its lease is
        released so the next suspicion may be checked at once, since a refused account sees only probes.
        An accepted check keeps its lease for `verify_seconds`: a burst of per-model 403s costs one check,
        and it clears the auth strikes (a lapsed disable is back for good).
        """
        if self._verify is None:
            return None
        key = verify_key(account.id)
        holder = f"{self._instance}:{self._rng.getrandbits(48):012x}"
        if not await self.store.lease_acquire(key, holder, 1, self.config.verify_seconds):
            return None
        try:
            async with asyncio.timeout(self.config.verify_timeout):
                await self._verify(account)
        except TimeoutError:
            log.info("account %s: credential check timed out (inconclusive)", account.name)
            return None
        except UpstreamAuthError as exc:
            await self.store.lease_release(key, holder)
            log.warning("account %s: credential check refused: %s", account.name, exc.message)
            failed = Outcome(ok=False, error=exc)
            self._failed(account, exc)
            await self._update_health(account.id, failed, FailureKind.AUTH, self._clock())
            await self._probe_settled(account.id)
            return False
        except GatewayError as exc:
            log.info("account %s: credential check inconclusive: %s", account.name, exc.message)
            return None
        now = self._clock()

        def cleared(raw: bytes | None) -> bytes | None:
            old = decode_health(raw)
            new = health.on_verified(old, now)
            return None if new is None or new == old else encode_health(new)

        await self._state.update(health_key(account.id), cleared, ttl=self.config.state_ttl)
        return True

    async def _probe_settled(self, account_id: str) -> None:
        """A refusal is the verdict a probe waits for: free the probe lease, so the account is probed as soon
        as it is suspect again (after its cooldown, or when a disable shorter than `probe_seconds` lapses)."""
        key = probe_key(account_id)
        for holder in await self.store.lease_holders(key):
            await self.store.lease_release(key, holder)

    async def settle(self) -> None:
        """Wait for the background credential checks started so far (tests use it)."""
        while self._verifications:
            await asyncio.gather(*list(self._verifications), return_exceptions=True)

    async def flush(self) -> None:
        """Write what was learned behind: arm statistics and session pins (metrics and tests call it;
        otherwise a background task does every `flush_seconds`)."""
        pins, self._pins_pending = self._pins_pending, {}
        for key, account_id in pins.items():
            await self.store.set(key, account_id.encode(), self.config.pin_seconds)
        await self._state.flush()

    def _flush_soon(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # driven without an event loop (the pool simulation): flush() is called by hand
            return
        flusher = self._flusher
        if flusher is None or flusher.done() or flusher.get_loop() is not loop:
            self._flusher = loop.create_task(self._flush_loop())

    async def _flush_loop(self) -> None:
        while self._pins_pending or self._state.pending:
            await asyncio.sleep(self.config.flush_seconds)
            try:
                await self.flush()
            except GatewayError as exc:  # the store is down: the statistics wait for the next round
                log.warning("writing pool statistics failed: %s", exc.message)

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

    # ---- reporting -----------------------------------------------------------------------------------
    async def snapshot(self) -> list[dict[str, object]]:
        """Per account: state and reason, posterior mean with 90 % interval, counts, in-flight, p50 TTFT."""
        await self.flush()
        accounts = self.accounts()
        now = self._clock()
        raw_health = await self.store.get_many([health_key(a.id) for a in accounts])
        arms_by_account: dict[str, dict[str, ArmState]] = {}
        for raw in (await self.store.scan(ARM_PREFIX)).values():
            owner, model = arm_owner(raw)
            arm = decode_arm(raw)
            if arm is not None:
                arms_by_account.setdefault(owner, {})[model] = arm
        out: list[dict[str, object]] = []
        for account, health_raw in zip(accounts, raw_health, strict=True):
            h = decode_health(health_raw)
            st = health.status(h, now)
            arms = arms_by_account.get(account.id, {})
            out.append(
                {
                    **account.public(),
                    "state": st.state,
                    "reason": st.reason or None,
                    "cooldown_until": st.until,
                    "disabled_until": h.disabled_until
                    if h is not None and health.is_disabled(h, now)
                    else None,
                    "in_flight": await self.store.lease_count(slots_key(account.id)),
                    "max_concurrent": account.max_concurrent,
                    **self._summary(list(arms.values()), now),
                    "models": {m: self._summary([a], now) for m, a in sorted(arms.items())},
                }
            )
        return out

    def _summary(self, arms: list[ArmState], now: float) -> dict[str, object]:
        """Posterior of the arms pooled (discounted counts summed), totals and the median recent TTFT."""
        cfg = self.config.bandit
        s = sum(bandit.decayed(a, now, cfg).s for a in arms)
        f = sum(bandit.decayed(a, now, cfg).f for a in arms)
        alpha, beta_ = cfg.prior_alpha + s, cfg.prior_beta + f
        low, high = beta.interval(alpha, beta_, 0.9)
        ttfts = sorted(t for a in arms for t in a.recent_ttft)
        return {
            "posterior_mean": round(bandit.posterior_mean(alpha, beta_), 4),
            "interval_90": [round(low, 4), round(high, 4)],
            "successes": sum(a.successes for a in arms),
            "failures": sum(a.failures for a in arms),
            "p50_ttft": ttfts[len(ttfts) // 2] if ttfts else None,
        }
