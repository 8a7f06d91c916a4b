"""Discounted Thompson sampling: discounting, the effective-sample cap, and the latency-aware score."""

from __future__ import annotations

import random

import pytest

from qwen_server.pool import bandit
from qwen_server.pool.bandit import ArmState, BanditConfig

CFG = BanditConfig(half_life=300.0, max_weight=40.0, failure_penalty=2.0, ref_tokens=100.0)


def trained(successes: int, failures: int, now: float = 0.0, **latency: float) -> ArmState:
    arm = None
    for i in range(successes + failures):
        ok = i < successes
        arm = bandit.update(
            arm,
            now,
            CFG,
            success=ok,
            ttft=latency.get("ttft"),
            tokens_per_s=latency.get("tokens_per_s"),
            failure_time=latency.get("failure_time"),
        )
    assert arm is not None
    return arm


def test_counts_halve_every_half_life() -> None:
    arm = ArmState(s=8.0, f=4.0, t=0.0)
    later = bandit.decayed(arm, 300.0, CFG)
    assert (later.s, later.f) == pytest.approx((4.0, 2.0))
    assert bandit.posterior(arm, 600.0, CFG) == pytest.approx((1 + 2.0, 1 + 1.0))


def test_old_failures_fade_back_to_the_prior() -> None:
    arm = trained(0, 30)
    a, b = bandit.posterior(arm, 3600.0, CFG)
    assert bandit.posterior_mean(a, b) == pytest.approx(0.5, abs=0.01)
    assert bandit.posterior_mean(*bandit.posterior(arm, 0.0, CFG)) < 0.05


def test_a_clock_running_backwards_does_not_grow_evidence() -> None:
    arm = ArmState(s=8.0, f=4.0, t=100.0)
    assert bandit.decayed(arm, 50.0, CFG).s == pytest.approx(8.0)


def test_weight_is_capped_so_a_degradation_shows_within_tens_of_requests() -> None:
    arm = trained(500, 0)
    assert arm.s + arm.f == pytest.approx(CFG.max_weight)
    arm = ArmState(s=38.0, f=2.0)  # 95 % success at the cap
    before = bandit.posterior_mean(*bandit.posterior(arm, 0.0, CFG))
    for _ in range(10):
        arm = bandit.update(arm, 0.0, CFG, success=False)
    after = bandit.posterior_mean(*bandit.posterior(arm, 0.0, CFG))
    assert before > 0.9
    assert after < 0.75


def test_partial_weight_failure_counts_partly() -> None:
    arm = bandit.update(None, 0.0, CFG, success=False, weight=0.25)
    assert (arm.s, arm.f) == pytest.approx((0.0, 0.25))
    assert (arm.successes, arm.failures) == (0, 1)


def test_latency_ewmas_take_the_right_samples() -> None:
    arm = bandit.update(None, 0.0, CFG, success=True, ttft=1.0, tokens_per_s=50.0, failure_time=9.0)
    assert arm.failure_time is None
    arm = bandit.update(arm, 0.0, CFG, success=False, ttft=9.0, failure_time=0.5)
    assert arm.ttft == pytest.approx(1.0)
    assert arm.failure_time == pytest.approx(0.5)
    arm = bandit.update(arm, 0.0, CFG, success=True, ttft=2.0)
    assert arm.ttft == pytest.approx(1.0 + CFG.latency_weight * 1.0)
    assert arm.recent_ttft == (1.0, 2.0)


def test_recent_ttft_keeps_only_the_last_samples() -> None:
    arm = None
    for i in range(40):
        arm = bandit.update(arm, 0.0, CFG, success=True, ttft=float(i))
    assert arm is not None
    assert arm.recent_ttft == tuple(float(i) for i in range(40 - CFG.recent_samples, 40))


def test_expected_time_formula() -> None:
    arm = ArmState(ttft=1.0, tokens_per_s=50.0, failure_time=0.5)
    fallback = bandit.Latency(9.0, 9.0, 9.0)
    assert bandit.expected_time(1.0, arm, fallback, CFG) == pytest.approx(1.0 + 100 / 50)
    assert bandit.expected_time(0.5, arm, fallback, CFG) == pytest.approx(3.0 + 2.5)
    assert bandit.expected_time(0.0, arm, fallback, CFG) > 1e6


def test_unknown_latency_uses_the_candidates_mean() -> None:
    arms = {"a": ArmState(ttft=1.0, tokens_per_s=10.0), "b": ArmState(ttft=3.0, tokens_per_s=30.0), "c": None}
    fallback = bandit.fallback_latency(arms, CFG)
    assert (fallback.ttft, fallback.tokens_per_s) == pytest.approx((2.0, 20.0))
    assert fallback.failure_time == CFG.default_failure_time


def wins(arms: dict[str, ArmState | None], rounds: int = 2000, seed: int = 1) -> dict[str, int]:
    rng = random.Random(seed)
    counts = dict.fromkeys(arms, 0)
    for _ in range(rounds):
        counts[bandit.rank(arms, 0.0, CFG, rng)[0][0]] += 1
    return counts


def test_sampling_prefers_the_better_arm_but_still_explores() -> None:
    counts = wins({"good": trained(30, 2, ttft=1.0), "meh": trained(20, 12, ttft=1.0), "new": None})
    assert counts["good"] > 0.7 * 2000
    assert counts["new"] > 0  # an arm with no evidence still gets drawn


def test_an_account_that_fails_fast_does_not_look_fast() -> None:
    fast_429 = trained(3, 27, ttft=0.3, tokens_per_s=80.0, failure_time=0.05)
    slow_ok = trained(28, 2, ttft=3.0, tokens_per_s=30.0, failure_time=2.0)
    fallback = bandit.fallback_latency({}, CFG)
    at_mean = {
        name: bandit.expected_time(
            bandit.posterior_mean(*bandit.posterior(arm, 0.0, CFG)), arm, fallback, CFG
        )
        for name, arm in {"fast_429": fast_429, "slow_ok": slow_ok}.items()
    }
    assert at_mean["fast_429"] > at_mean["slow_ok"] + 5.0
    counts = wins({"fast_429": fast_429, "slow_ok": slow_ok})
    assert counts["slow_ok"] > 0.97 * 2000  # the rest is exploration of a wide-ish posterior


def test_speed_matters_between_equally_reliable_arms() -> None:
    fast = trained(38, 2, ttft=0.5, tokens_per_s=60.0)
    slow = trained(38, 2, ttft=4.0, tokens_per_s=15.0)
    counts = wins({"fast": fast, "slow": slow})
    assert counts["fast"] > 0.9 * 2000
