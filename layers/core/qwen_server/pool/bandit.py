"""Discounted Thompson sampling with a latency-aware score: which healthy account serves the next request.

An arm is one (account, model) pair. Its state is two discounted pseudo-counts, successes `s` and failures
`f`, stamped with the time `t` they were last brought up to date, plus EWMAs of time to first token (TTFT), of
tokens/s and of how long a failure takes to show.

Posterior. Success is Bernoulli with an unknown rate p ~ Beta(a0 + s, b0 + f). Whenever the arm is read or
updated at time `now`, both counts are first multiplied by 0.5 ** ((now - t) / half_life), so evidence fades
toward the prior: an account that failed an hour ago (12 half-lives at 300 s) is back to near Beta(a0, b0) and
gets tried again. The counts are also capped at `max_weight` in total (scaled down together), so a busy arm's
posterior never grows so sharp that a sudden degradation takes hundreds of requests to show: at the cap of
40, ten failures in a row move a 0.93 posterior mean to 0.73.

Score. Each decision draws one p~ per candidate from its posterior and ranks by expected time to success,

    E = T + (F + R) * (1 - p~) / p~,        T = TTFT + ref_tokens / tokens_per_s,

the expected time until a good answer if the arm were tried until it succeeds: every attempt fails with
probability 1 - p, a failure costs its own duration F plus a fixed penalty R (the failover, the retry budget
it spends and the client's patience), and the number of failures before a success is geometric with mean
(1 - p) / p. The lowest E wins. Because R does not shrink with F, an account that answers 429 in 50 ms cannot
look fast: at p = 0.1 it scores ~18 s more than its T. Unknown latencies take the candidates' mean, so a new
arm competes on its success posterior alone. Sampling p (rather than using its mean) is what explores: wide
posteriors sometimes draw high, and concurrent deciders reading the same state still spread their choices.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, replace

_MIN_P = 1e-9


@dataclass(frozen=True, slots=True)
class BanditConfig:
    half_life: float = 300.0  # seconds for the evidence to halve
    prior_alpha: float = 1.0
    prior_beta: float = 1.0
    max_weight: float = 40.0  # cap on s + f: bounds how slowly a sharp posterior reacts
    failure_penalty: float = 2.0  # R, seconds charged per failed attempt on top of its duration
    ref_tokens: float = 100.0  # answer length at which generation speed is weighed against TTFT
    latency_weight: float = 0.3  # EWMA weight of a new latency sample
    default_ttft: float = 2.0  # used when no candidate has a measurement yet
    default_tokens_per_s: float = 30.0
    default_failure_time: float = 1.0
    recent_samples: int = 16  # TTFTs kept for the p50 in snapshots


@dataclass(frozen=True, slots=True)
class ArmState:
    """What one (account, model) pair has shown. Pure value; `state.py` stores it."""

    s: float = 0.0  # discounted successes
    f: float = 0.0  # discounted failures
    t: float = 0.0  # when s and f were last discounted
    ttft: float | None = None  # EWMA seconds to first token, successes only
    tokens_per_s: float | None = None
    failure_time: float | None = None  # EWMA seconds until a failure showed
    successes: int = 0  # plain totals, for humans
    failures: int = 0
    recent_ttft: tuple[float, ...] = ()


def decayed(arm: ArmState, now: float, config: BanditConfig) -> ArmState:
    """The arm with its counts discounted to `now` (never forward-discounted if clocks disagree)."""
    factor = _factor(now - arm.t, config)
    return replace(arm, s=arm.s * factor, f=arm.f * factor, t=max(now, arm.t))


def _factor(dt: float, config: BanditConfig) -> float:
    if dt <= 0 or config.half_life <= 0:
        return 1.0
    return 0.5 ** (dt / config.half_life)


def posterior(arm: ArmState | None, now: float, config: BanditConfig) -> tuple[float, float]:
    """Beta parameters (alpha, beta) of the success rate at `now`."""
    if arm is None:
        return config.prior_alpha, config.prior_beta
    factor = _factor(now - arm.t, config)
    return config.prior_alpha + arm.s * factor, config.prior_beta + arm.f * factor


def _ewma(old: float | None, sample: float | None, weight: float) -> float | None:
    if sample is None:
        return old
    if old is None:
        return sample
    return old + weight * (sample - old)


def update(
    arm: ArmState | None,
    now: float,
    config: BanditConfig,
    *,
    success: bool,
    weight: float = 1.0,
    ttft: float | None = None,
    tokens_per_s: float | None = None,
    failure_time: float | None = None,
) -> ArmState:
    """Fold one outcome in. `weight` < 1 for failures that are only partly the account's fault."""
    d = decayed(arm or ArmState(t=now), now, config)
    s = d.s + (weight if success else 0.0)
    f = d.f + (0.0 if success else weight)
    if s + f > config.max_weight:
        scale = config.max_weight / (s + f)
        s, f = s * scale, f * scale
    w = config.latency_weight
    recent = d.recent_ttft
    if success and ttft is not None:
        recent = (*recent, ttft)[-config.recent_samples :]
    return replace(
        d,
        s=s,
        f=f,
        ttft=_ewma(d.ttft, ttft if success else None, w),
        tokens_per_s=_ewma(d.tokens_per_s, tokens_per_s if success and tokens_per_s else None, w),
        failure_time=_ewma(d.failure_time, None if success else failure_time, w),
        successes=d.successes + (1 if success else 0),
        failures=d.failures + (0 if success else 1),
        recent_ttft=recent,
    )


@dataclass(frozen=True, slots=True)
class Latency:
    """The latency figures a score needs; missing measurements are filled from the candidates' mean."""

    ttft: float
    tokens_per_s: float
    failure_time: float


def fallback_latency(arms: Mapping[str, ArmState | None], config: BanditConfig) -> Latency:
    """Mean of the candidates' measured latencies, or the configured defaults where none has one."""

    def average(values: list[float], default: float) -> float:
        return sum(values) / len(values) if values else default

    known = [a for a in arms.values() if a is not None]
    return Latency(
        ttft=average([a.ttft for a in known if a.ttft is not None], config.default_ttft),
        tokens_per_s=average(
            [a.tokens_per_s for a in known if a.tokens_per_s is not None], config.default_tokens_per_s
        ),
        failure_time=average(
            [a.failure_time for a in known if a.failure_time is not None], config.default_failure_time
        ),
    )


def expected_time(p: float, arm: ArmState | None, fallback: Latency, config: BanditConfig) -> float:
    """E = T + (F + R) (1 - p) / p: expected seconds to a good answer if retried here until it succeeds."""
    ttft = fallback.ttft if arm is None or arm.ttft is None else arm.ttft
    tps = fallback.tokens_per_s if arm is None or arm.tokens_per_s is None else arm.tokens_per_s
    fail = fallback.failure_time if arm is None or arm.failure_time is None else arm.failure_time
    service = ttft + config.ref_tokens / max(tps, 1e-6)
    p = max(p, _MIN_P)
    return service + (fail + config.failure_penalty) * (1.0 - p) / p


def rank(
    arms: Mapping[str, ArmState | None], now: float, config: BanditConfig, rng: random.Random
) -> list[tuple[str, float]]:
    """Candidates ordered best first by one Thompson draw each: (key, sampled expected time)."""
    fallback = fallback_latency(arms, config)
    scored: list[tuple[float, float, str]] = []
    for key, arm in arms.items():
        alpha, beta = posterior(arm, now, config)
        p = rng.betavariate(alpha, beta)
        scored.append((expected_time(p, arm, fallback, config), rng.random(), key))
    scored.sort()
    return [(key, score) for score, _, key in scored]


def posterior_mean(alpha: float, beta: float) -> float:
    return alpha / (alpha + beta)
