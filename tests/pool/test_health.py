"""Hard constraints: cooldowns, ejection schedule, disabling, and which failures count against an account."""

from __future__ import annotations

import random

import pytest

from qwen_server.core.errors import (
    GatewayError,
    InvalidRequest,
    UpstreamAuthError,
    UpstreamBadRequest,
    UpstreamBlocked,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
)
from qwen_server.pool import health
from qwen_server.pool.health import FailureKind, HealthConfig, HealthState

CFG = HealthConfig()


def fail(h: HealthState | None, kind: FailureKind, now: float, seed: int = 0, **kw: object) -> HealthState:
    out = health.on_failure(h, kind, now, random.Random(seed), CFG, **kw)  # type: ignore[arg-type]
    assert out is not None
    return out


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (UpstreamRateLimited("x", retry_after=3), FailureKind.RATE_LIMITED),
        (UpstreamAuthError("x"), FailureKind.AUTH),
        (UpstreamBlocked("x"), FailureKind.BLOCKED),
        (UpstreamError("x"), FailureKind.SERVER),
        (UpstreamTimeout("x"), FailureKind.SERVER),
        (None, FailureKind.NEUTRAL),
        (UpstreamBadRequest("x"), FailureKind.NEUTRAL),
        (InvalidRequest("x"), FailureKind.NEUTRAL),
    ],
)
def test_classify(error: GatewayError | None, kind: FailureKind) -> None:
    assert health.classify(error) is kind


def test_retry_after_is_honoured_and_capped() -> None:
    h = fail(None, FailureKind.RATE_LIMITED, 100.0, retry_after=17.0)
    assert h.cooldown_until == 117.0
    assert health.status(h, 116.9).state == "cooldown"
    assert health.available(h, 117.0)
    huge = fail(None, FailureKind.RATE_LIMITED, 0.0, retry_after=10**6)
    assert huge.cooldown_until == CFG.max_retry_after


def test_backoff_without_retry_after_is_full_jitter_with_a_growing_ceiling() -> None:
    for k in range(10):
        ceiling = min(CFG.backoff_cap, CFG.backoff_base * 2**k)
        delays = [
            fail(
                HealthState(consecutive_rate_limited=k), FailureKind.RATE_LIMITED, 0.0, seed=s
            ).cooldown_until
            for s in range(200)
        ]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > 0.8 * ceiling  # spread over the whole range, not a fixed step
        assert min(delays) < 0.2 * ceiling


def test_a_cooldown_never_shortens_an_existing_one() -> None:
    h = fail(None, FailureKind.RATE_LIMITED, 0.0, retry_after=60.0)
    h = fail(h, FailureKind.RATE_LIMITED, 1.0, retry_after=2.0)
    assert h.cooldown_until == 60.0


def test_second_auth_failure_in_a_row_disables_with_the_reason() -> None:
    h = fail(None, FailureKind.AUTH, 0.0, message="401 token expired")
    assert health.status(h, 0.0).state == "cooldown"
    assert h.disabled is None
    h = fail(h, FailureKind.AUTH, 10.0, message="401 token expired")
    st = health.status(h, 10**9)
    assert st.state == "disabled"
    assert "2 times in a row" in st.reason and "token expired" in st.reason


def test_a_success_between_auth_failures_resets_the_count() -> None:
    h = fail(None, FailureKind.AUTH, 0.0)
    assert health.suspect(h)
    h2 = health.on_success(h)
    assert h2 is not None and not health.suspect(h2)
    h3 = fail(h2, FailureKind.AUTH, 10.0)
    assert h3.disabled is None
    assert not health.suspect(fail(h3, FailureKind.AUTH, 20.0))  # disabled: settled


def test_waf_is_a_short_cooldown_without_a_strike() -> None:
    h = HealthState(consecutive_server=3)
    for seed in range(50):
        out = fail(h, FailureKind.BLOCKED, 0.0, seed=seed)
        assert CFG.blocked_cooldown / 2 <= out.cooldown_until <= CFG.blocked_cooldown
        assert out.consecutive_server == 3 and out.ejections == 0


def test_five_server_errors_in_a_row_eject_for_30s_times_n_capped_at_300() -> None:
    h: HealthState | None = None
    now = 0.0
    durations = []
    for _ in range(12):
        for i in range(CFG.eject_after):
            assert h is None or health.available(h, now), "ejected before the fifth error"
            h = fail(h, FailureKind.SERVER, now)
            if i < CFG.eject_after - 1:
                assert health.available(h, now)
        assert h is not None
        assert health.status(h, now).state == "ejected"
        durations.append(h.ejected_until - now)
        now = h.ejected_until  # back in rotation, fails again at once
    assert durations == [30, 60, 90, 120, 150, 180, 210, 240, 270, 300, 300, 300]


def test_ejection_multiplier_is_forgiven_over_healthy_time() -> None:
    h = HealthState(ejections=4, ejected_until=0.0)
    later = health.eject(h, 3 * CFG.ejection_forgive + 1, CFG, "x")
    assert later.ejections == 2  # 4 - 3 forgiven + 1
    assert later.ejected_until - (3 * CFG.ejection_forgive + 1) == 60


def test_success_clears_consecutive_errors() -> None:
    h = HealthState(consecutive_server=4, consecutive_rate_limited=3)
    cleared = health.on_success(h)
    assert cleared is not None
    after = fail(cleared, FailureKind.SERVER, 0.0)
    assert after.consecutive_server == 1 and health.available(after, 0.0)


def test_success_on_a_clean_account_changes_nothing() -> None:
    h = HealthState()
    assert health.on_success(h) is h
    assert health.on_success(None) is None


def test_neutral_failures_change_nothing() -> None:
    h = HealthState(consecutive_server=2)
    assert health.on_failure(h, FailureKind.NEUTRAL, 0.0, random.Random(0), CFG) is h


def test_status_precedence_disabled_then_ejected_then_cooldown() -> None:
    h = HealthState(cooldown_until=50.0, ejected_until=40.0, disabled=None, reason="r")
    assert health.status(h, 30.0).state == "ejected"
    assert health.status(h, 45.0).state == "cooldown"
    assert health.status(h, 60.0).state == "ok"
    assert health.status(health.disable(h, "manual"), 60.0) == health.Status("disabled", "manual")
    assert health.status(health.enable(health.disable(h, "manual")), 60.0).state == "ok"
