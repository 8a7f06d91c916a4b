"""Hard constraints on an account, applied before any sampling: cooldowns, ejections, disabling.

The bandit learns how good an account is; this module decides whether it may be asked at all. Rules, by the
kind of failure (`classify`):

- rate limited (429): cool down for the upstream's Retry-After when it sent one, else exponential backoff with
  full jitter, uniform(0, min(cap, base * 2**k)) for the k-th 429 in a row, so a pool of instances does not
  come back in lock-step. A Retry-After of at most `max_pace` also paces the account until `pace_window`
  seconds after it: its bucket is empty and refills about one request per Retry-After (the longest seen
  while paced), so each attempt there starts a cooldown of that long (`on_pick`) instead of the next attempt
  finding the bucket empty again (a longer Retry-After is a quota window, not a refill interval);
- forbidden (a chat call's 401/403): a (model, account) or request problem, not yet the credential's: the
  health does not change (the arm takes the failure) and the pool checks the credential in the background;
- auth refused (a sign-in or a credential check refused the credential itself): a short cooldown the first
  time, after which the account is `suspect` (the pool probes it once), disabled with the reason at the
  second in a row. Disabling lapses after `disable_seconds` (1 h): the account is `suspect` again, so one
  probe decides whether it is back, and one more refusal disables it again;
- unserved (this account's upstream does not have the model): the arm's business only, like forbidden;
- WAF / anti-bot challenge: a short jittered cooldown; not the account's fault, so no strike is counted;
- server errors and timeouts: outlier ejection as in Envoy: 5 in a row eject the account for 30 s x n, at most
  300 s, where n counts its ejections and forgets one per `ejection_forgive` seconds spent un-ejected;
- a refused request (400), an error of our own or a client that went away: not about the account at all,
  nothing changes.

A success clears every consecutive counter (and a lapsed disable); a passed credential check clears the
auth strikes. All functions are pure: time and randomness come in as arguments.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from enum import StrEnum

from qwen_server.core.errors import (
    GatewayError,
    UpstreamAuthError,
    UpstreamBlocked,
    UpstreamError,
    UpstreamForbidden,
    UpstreamModelNotFound,
    UpstreamRateLimited,
)


class FailureKind(StrEnum):
    RATE_LIMITED = "rate_limited"
    AUTH = "auth"
    FORBIDDEN = "forbidden"  # refused for this model or request; the credential is checked separately
    UNSERVED = "unserved"  # this account's upstream does not have the model
    BLOCKED = "blocked"
    SERVER = "server"
    NEUTRAL = "neutral"  # the request's or the gateway's fault, not the account's


def classify(error: GatewayError | None) -> FailureKind:
    """Which rule a failed attempt falls under.

    Upstream failures always arrive as `UpstreamError`s (the error tree is mapped at the boundary), so a
    failure without one (the client went away, a bug of ours) is not the account's doing.
    """
    if error is None:
        return FailureKind.NEUTRAL
    if isinstance(error, UpstreamRateLimited):
        return FailureKind.RATE_LIMITED
    if isinstance(error, UpstreamAuthError):
        return FailureKind.AUTH
    if isinstance(error, UpstreamForbidden):
        return FailureKind.FORBIDDEN
    if isinstance(error, UpstreamModelNotFound):
        return FailureKind.UNSERVED
    if isinstance(error, UpstreamBlocked):
        return FailureKind.BLOCKED
    if isinstance(error, UpstreamError) and error.retryable:
        return FailureKind.SERVER
    return FailureKind.NEUTRAL


@dataclass(frozen=True, slots=True)
class HealthConfig:
    backoff_base: float = 1.0  # seconds, first 429 without Retry-After
    backoff_cap: float = 60.0
    max_retry_after: float = 3600.0  # never trust an upstream for longer than this
    pace_window: float = 15.0  # seconds an account stays paced after its Retry-After ran out
    max_pace: float = 60.0  # a longer Retry-After does not pace
    blocked_cooldown: float = 10.0  # WAF challenge: jittered in [half, full]
    auth_cooldown: float = 1.0  # then one probe decides: works again, or disabled
    auth_failures_to_disable: int = 2
    disable_seconds: float = 3600.0  # then probed again; never a permanent verdict from traffic alone
    eject_after: int = 5  # consecutive server errors
    ejection_base: float = 30.0
    ejection_max: float = 300.0
    ejection_forgive: float = 60.0  # un-ejected seconds that forgive one past ejection


@dataclass(frozen=True, slots=True)
class HealthState:
    cooldown_until: float = 0.0
    ejected_until: float = 0.0
    ejections: int = 0  # the n in 30 s x n
    consecutive_server: int = 0
    consecutive_rate_limited: int = 0
    consecutive_auth: int = 0
    disabled: str | None = None  # the reason, when disabled
    disabled_until: float | None = None  # when the disable lapses; None: until enabled by hand
    reason: str = ""  # why the current cooldown / ejection
    pace: float = 0.0  # seconds between attempts while paced after a rate limit
    paced_until: float = 0.0


@dataclass(frozen=True, slots=True)
class Status:
    state: str  # ok | suspect | cooldown | ejected | disabled
    reason: str = ""
    until: float | None = None  # when a cooldown or ejection ends (a disable's end: `disabled_until`)


def is_disabled(health: HealthState | None, now: float) -> bool:
    """Disabled and not yet lapsed."""
    if health is None or health.disabled is None:
        return False
    return health.disabled_until is None or now < health.disabled_until


def status(health: HealthState | None, now: float) -> Status:
    if health is None:
        return Status("ok")
    if is_disabled(health, now):
        return Status("disabled", health.disabled or "")
    if health.ejected_until > now:
        return Status("ejected", health.reason, health.ejected_until)
    if health.cooldown_until > now:
        return Status("cooldown", health.reason, health.cooldown_until)
    if health.consecutive_auth > 0:
        return Status("suspect", health.disabled or health.reason)
    return Status("ok")


def available(health: HealthState | None, now: float) -> bool:
    return status(health, now).state in ("ok", "suspect")


def suspect(health: HealthState | None, now: float | None = None) -> bool:
    """Credentials refused and not yet settled: worth one probe rather than waiting for sampling.

    A lapsed disable keeps its strikes, so the account is suspect again once it lapses. Without `now` a
    disable that lapses at all counts, which is right only for accounts `available` already let through
    (the pool's candidates); pass `now` elsewhere."""
    if health is None or health.consecutive_auth == 0:
        return False
    if now is None:
        return health.disabled is None or health.disabled_until is not None
    return not is_disabled(health, now)


def on_success(health: HealthState | None) -> HealthState | None:
    """Clear the consecutive counters and a lapsed disable; the same object when there is nothing to clear.

    (A success can only come from an account that was available, so any disable left in it has lapsed.)"""
    if health is None:
        return None
    if not (
        health.consecutive_server
        or health.consecutive_rate_limited
        or health.consecutive_auth
        or health.disabled is not None
    ):
        return health
    return replace(
        health,
        consecutive_server=0,
        consecutive_rate_limited=0,
        consecutive_auth=0,
        disabled=None,
        disabled_until=None,
    )


def paced(health: HealthState | None, now: float) -> bool:
    """A Retry-After said the account's bucket was empty less than `pace_window` ago."""
    return health is not None and health.pace > 0 and now < health.paced_until


def on_pick(health: HealthState | None, now: float) -> HealthState | None:
    """An attempt starts on the account: while it is paced, the next one waits `pace` seconds."""
    if health is None or not paced(health, now):
        return health
    return _cool(health, now + health.pace, "paced after a rate limit")


def on_verified(health: HealthState | None, now: float) -> HealthState | None:
    """A credential check passed: the auth strikes (and a lapsed disable) go; other counters stay, since
    a good credential says nothing about 5xx or 429s. A disable still in force stays too: the check may
    have raced an admin's or a sign-in's verdict, and lapsing settles it anyway."""
    if health is None or is_disabled(health, now):
        return health
    if not health.consecutive_auth and health.disabled is None:
        return health
    return replace(health, consecutive_auth=0, disabled=None, disabled_until=None)


def on_failure(
    health: HealthState | None,
    kind: FailureKind,
    now: float,
    rng: random.Random,
    config: HealthConfig,
    *,
    retry_after: float | None = None,
    message: str = "",
) -> HealthState | None:
    """The health after one failure of `kind` at `now`."""
    h = health or HealthState()
    detail = f": {message}" if message else ""
    if kind in (FailureKind.NEUTRAL, FailureKind.FORBIDDEN, FailureKind.UNSERVED):
        return health
    if kind is FailureKind.RATE_LIMITED:
        if retry_after is not None and retry_after > 0:
            delay = min(retry_after, config.max_retry_after)
            if delay <= config.max_pace:
                pace = max(delay, h.pace if paced(h, now) else 0.0)
                h = replace(h, pace=pace, paced_until=now + delay + config.pace_window)
        else:
            ceiling = min(config.backoff_cap, config.backoff_base * 2.0**h.consecutive_rate_limited)
            delay = rng.uniform(0.0, ceiling)
        return _cool(
            replace(h, consecutive_rate_limited=h.consecutive_rate_limited + 1), now + delay, "rate limited"
        )
    if kind is FailureKind.BLOCKED:
        delay = config.blocked_cooldown * rng.uniform(0.5, 1.0)
        return _cool(h, now + delay, f"WAF challenge{detail}")
    if kind is FailureKind.AUTH:
        strikes = h.consecutive_auth + 1
        if strikes >= config.auth_failures_to_disable:
            reason = f"credentials refused {strikes} times in a row{detail}"
            until = now + config.disable_seconds
            return replace(h, consecutive_auth=strikes, disabled=reason, disabled_until=until)
        cooled = replace(h, consecutive_auth=strikes)
        return _cool(cooled, now + config.auth_cooldown, f"auth refused{detail}")
    strikes = h.consecutive_server + 1
    if strikes < config.eject_after:
        return replace(h, consecutive_server=strikes)
    return eject(h, now, config, f"{strikes} server errors in a row{detail}")


def eject(health: HealthState, now: float, config: HealthConfig, reason: str) -> HealthState:
    """Outlier ejection for ejection_base x n seconds (capped), n = recent ejections including this one."""
    previous = health.ejections
    if previous and health.ejected_until < now:
        forgiven = int((now - health.ejected_until) / config.ejection_forgive)
        previous = max(0, previous - forgiven)
    n = previous + 1
    until = now + min(config.ejection_base * n, config.ejection_max)
    return replace(health, ejections=n, ejected_until=until, consecutive_server=0, reason=reason)


def disable(health: HealthState | None, reason: str, until: float | None = None) -> HealthState:
    """Out of rotation with the reason, until `until` (None: until `enable`)."""
    return replace(health or HealthState(), disabled=reason, disabled_until=until)


def enable(health: HealthState | None) -> HealthState:
    """Back in rotation at once (an admin's decision): the disable, the auth strikes and any cooldown go."""
    return replace(
        health or HealthState(), disabled=None, disabled_until=None, consecutive_auth=0, cooldown_until=0.0
    )


def _cool(health: HealthState, until: float, reason: str) -> HealthState:
    if until <= health.cooldown_until:
        return health
    return replace(health, cooldown_until=until, reason=reason)
