"""The pool's knobs: the bandit's, the health rules', the retry budget's, and how long its store state lives."""

from __future__ import annotations

from dataclasses import dataclass, field

from qwen_server.pool.bandit import BanditConfig
from qwen_server.pool.health import FailureKind, HealthConfig
from qwen_server.pool.retry_budget import RetryBudget


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

