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


def test_a_retry_after_paces_the_account_each_attempt_then_waiting_that_long() -> None:
    h = fail(None, FailureKind.RATE_LIMITED, 100.0, retry_after=6.0)
    assert health.paced(h, 106.0) and h.pace == 6.0
    picked = health.on_pick(h, 106.0)
    assert picked is not None and picked.cooldown_until == 112.0 and picked.reason == "paced after a rate limit"
    assert health.status(picked, 111.9).state == "cooldown" and health.available(picked, 112.0)
    # a shorter Retry-After while paced (the bucket was nearly full again) keeps the longest pace seen
    h = fail(picked, FailureKind.RATE_LIMITED, 112.5, retry_after=1.0)
    assert h.pace == 6.0
    # pacing lapses `pace_window` after the Retry-After ran out; an attempt then changes nothing
    lapsed = 113.5 + CFG.pace_window
    assert not health.paced(h, lapsed) and health.on_pick(h, lapsed) is h
    # and the next rate limit starts from its own Retry-After
    assert fail(h, FailureKind.RATE_LIMITED, lapsed, retry_after=2.0).pace == 2.0


def test_a_429_without_retry_after_a_long_one_and_other_failures_do_not_pace() -> None:
    assert not health.paced(fail(None, FailureKind.RATE_LIMITED, 0.0), 0.5)
    quota = fail(None, FailureKind.RATE_LIMITED, 0.0, retry_after=CFG.max_pace + 1)  # a quota window
    assert not health.paced(quota, CFG.max_pace + 1.5)
    assert not health.paced(fail(None, FailureKind.SERVER, 0.0), 0.5)
    assert health.on_pick(None, 0.0) is None


def test_second_auth_failure_in_a_row_disables_with_the_reason() -> None:
    h = fail(None, FailureKind.AUTH, 0.0, message="401 token expired")
    assert health.status(h, 0.0).state == "cooldown"
    assert h.disabled is None
    h = fail(h, FailureKind.AUTH, 10.0, message="401 token expired")
    st = health.status(h, 10.0 + CFG.disable_seconds - 1)
    assert st.state == "disabled"
    assert "2 times in a row" in st.reason and "token expired" in st.reason
    assert h.disabled_until == 10.0 + CFG.disable_seconds


def test_a_success_between_auth_failures_resets_the_count() -> None:
    h = fail(None, FailureKind.AUTH, 0.0)
    assert health.suspect(h)
    h2 = health.on_success(h)
    assert h2 is not None and not health.suspect(h2)
    h3 = fail(h2, FailureKind.AUTH, 10.0)
    assert h3.disabled is None
    assert not health.suspect(fail(h3, FailureKind.AUTH, 20.0), 20.0)  # disabled: settled for now


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


def test_forbidden_changes_no_health_and_is_its_own_kind() -> None:
    from qwen_server.core.errors import UpstreamForbidden, UpstreamUnknownError

    assert health.classify(UpstreamForbidden("403 AccessDenied.Unpurchased")) is FailureKind.FORBIDDEN
    assert health.classify(UpstreamUnknownError("code nobody knows")) is FailureKind.NEUTRAL
    h = HealthState(consecutive_auth=1, consecutive_server=2)
    for _ in range(50):
        assert health.on_failure(h, FailureKind.FORBIDDEN, 0.0, random.Random(0), CFG) is h
    assert health.on_failure(None, FailureKind.FORBIDDEN, 0.0, random.Random(0), CFG) is None


def test_a_disable_lapses_into_suspect_and_one_more_refusal_disables_again() -> None:
    h = fail(fail(None, FailureKind.AUTH, 0.0), FailureKind.AUTH, 5.0, message="bad key")
    back = 5.0 + CFG.disable_seconds
    assert health.status(h, back - 0.1).state == "disabled" and not health.available(h, back - 0.1)
    assert not health.suspect(h, back - 0.1)
    assert health.status(h, back).state == "suspect" and health.available(h, back)
    assert health.suspect(h, back) and health.suspect(h)  # the pool's candidates: lapsed, so suspect
    again = fail(h, FailureKind.AUTH, back + 1, message="bad key")
    assert health.status(again, back + 2).state == "disabled"
    assert again.disabled_until == back + 1 + CFG.disable_seconds


def test_a_success_after_the_lapse_clears_the_disable() -> None:
    h = fail(fail(None, FailureKind.AUTH, 0.0), FailureKind.AUTH, 5.0)
    cleared = health.on_success(h)
    assert cleared is not None and cleared.disabled is None and cleared.disabled_until is None
    assert health.status(cleared, 6.0).state == "ok" and not health.suspect(cleared, 6.0)


def test_a_passed_credential_check_clears_only_the_auth_strikes() -> None:
    h = HealthState(consecutive_auth=1, consecutive_server=3, consecutive_rate_limited=2)
    checked = health.on_verified(h, 0.0)
    assert checked == HealthState(consecutive_server=3, consecutive_rate_limited=2)
    lapsed = fail(fail(None, FailureKind.AUTH, 0.0), FailureKind.AUTH, 5.0)
    after = 5.0 + CFG.disable_seconds
    assert health.status(health.on_verified(lapsed, after), after).state == "ok"
    assert health.on_verified(lapsed, 6.0) is lapsed, "a disable in force is not lifted by a check"
    clean = HealthState()
    assert health.on_verified(clean, 0.0) is clean and health.on_verified(None, 0.0) is None


def test_manual_enable_lifts_disable_strikes_and_cooldown() -> None:
    h = fail(fail(None, FailureKind.AUTH, 0.0), FailureKind.AUTH, 5.0)
    h = health.disable(fail(h, FailureKind.RATE_LIMITED, 5.0, retry_after=600.0), "owner", until=None)
    assert health.status(h, 10**9).state == "disabled", "a manual disable without an end never lapses"
    on = health.enable(h)
    assert health.status(on, 6.0).state == "ok" and not health.suspect(on, 6.0)
