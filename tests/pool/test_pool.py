"""AccountPool over MemoryStore with an injected clock and RNG: what the gateway relies on."""

from __future__ import annotations

import random

import pytest

from qwen_server.core.errors import (
    NoAccounts,
    NotFound,
    UpstreamAuthError,
    UpstreamBadRequest,
    UpstreamError,
    UpstreamRateLimited,
)
from qwen_server.pool.choice import Choice, Outcome
from qwen_server.pool.pool import AccountPool
from qwen_server.pool.state import pin_key
from qwen_server.store.memory import MemoryStore
from tests.fake_clock import FakeClock
from tests.pool.support import ListRegistry, account

MODEL = "qwen3-max"


def make_pool(
    *ids: str,
    clock: FakeClock | None = None,
    store: MemoryStore | None = None,
    seed: int = 7,
    max_concurrent: int = 4,
) -> tuple[AccountPool, FakeClock, ListRegistry]:
    clock = clock or FakeClock()
    registry = ListRegistry([account(i, max_concurrent=max_concurrent) for i in ids])
    pool = AccountPool(registry, store or MemoryStore(clock), clock=clock, rng=random.Random(seed))
    return pool, clock, registry


OK = Outcome(ok=True, ttft=1.0, tokens_per_s=40.0, duration=3.0)


def fail(error: Exception | None = None, duration: float = 1.0) -> Outcome:
    return Outcome(ok=False, error=error or UpstreamError("502 bad gateway"), duration=duration)  # type: ignore[arg-type]


async def serve(pool: AccountPool, outcome_for: dict[str, Outcome], **kw: object) -> Choice:
    choice = await pool.choose(MODEL, **kw)  # type: ignore[arg-type]
    await pool.record(choice, outcome_for[choice.account.id])
    return choice


async def by_id(pool: AccountPool) -> dict[str, dict[str, object]]:
    return {str(row["id"]): row for row in await pool.snapshot()}


# ---- configuration errors -----------------------------------------------------------------------------


async def test_no_accounts_configured() -> None:
    pool, _, _ = make_pool()
    with pytest.raises(NoAccounts, match="QWEN_ACCOUNTS"):
        await pool.choose(MODEL)


async def test_model_nobody_serves() -> None:
    pool, _, registry = make_pool("a")
    registry.items = [account("a", models=("qwen-vl",))]
    with pytest.raises(NotFound):
        await pool.choose(MODEL)
    assert (await pool.choose("qwen-vl")).account.id == "a"


async def test_every_account_excluded_after_failover() -> None:
    pool, _, _ = make_pool("a", "b")
    with pytest.raises(UpstreamError, match="tried"):
        await pool.choose(MODEL, exclude=frozenset({"a", "b"}))
    assert (await pool.choose(MODEL, exclude=frozenset({"a"}))).account.id == "b"


# ---- learning -----------------------------------------------------------------------------------------


async def test_learns_the_best_account() -> None:
    pool, clock, _ = make_pool("good", "meh", "bad")
    rates = {"good": 0.95, "meh": 0.7, "bad": 0.3}
    world = random.Random(3)
    picks: list[str] = []
    for _ in range(400):
        clock.advance(0.5)
        choice = await pool.choose(MODEL)
        ok = world.random() < rates[choice.account.id]
        await pool.record(choice, OK if ok else fail())
        picks.append(choice.account.id)
    late = picks[-150:]
    assert late.count("good") > 0.75 * len(late)
    assert len(set(picks[:20])) > 1  # it explored before it settled


async def test_discounting_lets_a_failed_account_back() -> None:
    pool, clock, _ = make_pool("flaky", "steady")
    for _ in range(4):  # below the ejection threshold, so only the posterior remembers
        choice = await pool.choose(MODEL, exclude=frozenset({"steady"}))
        await pool.record(choice, fail())
        await pool.record(await pool.choose(MODEL, exclude=frozenset({"flaky"})), OK)
    for _ in range(10):
        choice = await pool.choose(MODEL, exclude=frozenset({"steady"}))
        await pool.record(choice, OK)
        choice = await pool.choose(MODEL, exclude=frozenset({"steady"}))
        await pool.record(choice, fail())
    for _ in range(30):
        await pool.record(await pool.choose(MODEL, exclude=frozenset({"flaky"})), OK)

    async def share_of_flaky() -> float:
        picks = []
        for _ in range(300):
            choice = await pool.choose(MODEL)
            picks.append(choice.account.id)
            await pool.record(choice, Outcome(ok=False, error=UpstreamBadRequest("neutral")))
        return picks.count("flaky") / len(picks)

    assert await share_of_flaky() < 0.05
    clock.advance(3600.0)  # twelve half-lives: both are back near the prior
    assert await share_of_flaky() > 0.25


async def test_fast_429_account_is_not_preferred() -> None:
    pool, clock, _ = make_pool("fast429", "slow")
    for i in range(40):
        clock.advance(1.0)
        for aid in ("fast429", "slow"):
            other = "slow" if aid == "fast429" else "fast429"
            choice = await pool.choose(MODEL, exclude=frozenset({other}))
            if aid == "fast429" and i % 10 == 0:  # when it does answer, it is quick
                await pool.record(choice, Outcome(ok=True, ttft=0.3, tokens_per_s=80.0, duration=1.5))
            elif aid == "fast429":
                await pool.record(choice, fail(UpstreamRateLimited("429", retry_after=0.5), duration=0.05))
            else:
                await pool.record(choice, Outcome(ok=True, ttft=3.0, tokens_per_s=25.0, duration=8.0))
    clock.advance(5.0)
    picks = []
    for _ in range(200):
        choice = await pool.choose(MODEL)
        picks.append(choice.account.id)
        await pool.record(choice, Outcome(ok=False, error=UpstreamBadRequest("neutral")))
    assert picks.count("slow") > 0.95 * len(picks)


# ---- health -------------------------------------------------------------------------------------------


async def test_ejection_schedule_30s_times_n_capped_at_300() -> None:
    pool, clock, _ = make_pool("a")
    durations = []
    for _ in range(11):
        for _ in range(5):
            await pool.record(await pool.choose(MODEL), fail())
        row = (await by_id(pool))["a"]
        assert row["state"] == "ejected"
        assert isinstance(row["cooldown_until"], float)
        durations.append(round(row["cooldown_until"] - clock.now))
        with pytest.raises(UpstreamRateLimited) as info:
            await pool.choose(MODEL)
        assert info.value.retry_after == durations[-1]
        clock.now = row["cooldown_until"]
    assert durations == [30, 60, 90, 120, 150, 180, 210, 240, 270, 300, 300]


async def test_retry_after_is_honoured() -> None:
    pool, clock, _ = make_pool("a", "b")
    choice = await pool.choose(MODEL, exclude=frozenset({"b"}))
    await pool.record(choice, fail(UpstreamRateLimited("slow down", retry_after=17), duration=0.05))
    for _ in range(20):
        choice = await pool.choose(MODEL)
        assert choice.account.id == "b"
        await pool.record(choice, OK)
    with pytest.raises(UpstreamRateLimited) as info:
        await pool.choose(MODEL, exclude=frozenset({"b"}))
    assert info.value.retry_after == 17
    clock.advance(17.0)
    assert (await pool.choose(MODEL, exclude=frozenset({"b"}))).account.id == "a"


async def test_disabled_after_second_consecutive_auth_failure() -> None:
    pool, clock, _ = make_pool("a", "b")
    only_a = frozenset({"b"})
    await pool.record(await pool.choose(MODEL, exclude=only_a), fail(UpstreamAuthError("401 token refused")))
    row = (await by_id(pool))["a"]
    assert row["state"] == "cooldown"
    clock.advance(60.0)
    await pool.record(await pool.choose(MODEL, exclude=only_a), fail(UpstreamAuthError("401 token refused")))
    row = (await by_id(pool))["a"]
    assert row["state"] == "disabled"
    assert "401 token refused" in str(row["reason"])
    clock.advance(pool.config.health.disable_seconds - 1)
    with pytest.raises(NoAccounts, match="disabled"):
        await pool.choose(MODEL, exclude=only_a)
    assert (await pool.choose(MODEL)).account.id == "b"


async def test_an_attempt_that_ends_without_an_upstream_error_is_not_held_against_the_account() -> None:
    pool, _, _ = make_pool("a")
    for _ in range(10):  # e.g. the client went away mid-stream
        await pool.record(await pool.choose(MODEL), Outcome(ok=False, ttft=0.4, duration=2.0))
    row = (await by_id(pool))["a"]
    assert (row["state"], row["failures"], row["in_flight"]) == ("ok", 0, 0)


async def test_an_account_refused_once_is_probed_once_then_disabled() -> None:
    pool, clock, _ = make_pool("good", "locked")
    for _ in range(20):
        await pool.record(await pool.choose(MODEL, exclude=frozenset({"locked"})), OK)
    refused = fail(UpstreamAuthError("sign-in refused: wrong password"))
    await pool.record(await pool.choose(MODEL, exclude=frozenset({"good"})), refused)
    clock.advance(pool.config.health.auth_cooldown)
    probe = await pool.choose(MODEL)
    assert probe.account.id == "locked"  # despite its posterior
    later = []
    for _ in range(20):  # while the probe is out, no second one
        c = await pool.choose(MODEL)
        later.append(c.account.id)
        await pool.record(c, Outcome(ok=False, error=UpstreamBadRequest("neutral")))
    assert later.count("locked") <= 2
    await pool.record(probe, refused)
    row = (await by_id(pool))["locked"]
    assert row["state"] == "disabled" and "wrong password" in str(row["reason"])


async def test_a_probe_that_succeeds_clears_the_suspicion() -> None:
    pool, clock, _ = make_pool("good", "flaky-login")
    for _ in range(20):
        await pool.record(await pool.choose(MODEL, exclude=frozenset({"flaky-login"})), OK)
    await pool.record(
        await pool.choose(MODEL, exclude=frozenset({"good"})), fail(UpstreamAuthError("token expired"))
    )
    clock.advance(pool.config.health.auth_cooldown)
    probe = await pool.choose(MODEL)
    assert probe.account.id == "flaky-login"
    await pool.record(probe, OK)
    clock.advance(pool.config.probe_seconds + 1)
    await pool.record(
        await pool.choose(MODEL, exclude=frozenset({"good"})), fail(UpstreamAuthError("token expired"))
    )
    assert (await by_id(pool))["flaky-login"]["state"] == "cooldown"  # a fresh first strike, not disabled


async def test_manual_disable_and_enable() -> None:
    pool, _, _ = make_pool("a")
    await pool.disable("a", "owner asked")
    row = (await by_id(pool))["a"]
    assert (row["state"], row["reason"]) == ("disabled", "owner asked")
    with pytest.raises(NoAccounts):
        await pool.choose(MODEL)
    await pool.enable("a")
    assert (await pool.choose(MODEL)).account.id == "a"


async def test_concurrency_cap_and_leaked_slots_expire() -> None:
    pool, clock, _ = make_pool("a", "b", max_concurrent=1)
    first = await pool.choose(MODEL)
    second = await pool.choose(MODEL)
    assert {first.account.id, second.account.id} == {"a", "b"}
    assert await pool.choose(MODEL) is None  # both busy: the caller queues for the next free slot
    await pool.record(first, OK)
    assert (await pool.choose(MODEL)).account.id == first.account.id
    clock.advance(pool.config.lease_seconds + 1)  # the holders died without recording
    assert (await pool.choose(MODEL)).account.id in {"a", "b"}


async def test_instances_share_state_within_the_staleness_bound() -> None:
    clock = FakeClock()
    store = MemoryStore(clock)
    one, _, _ = make_pool("a", "b", clock=clock, store=store, seed=1)
    two, _, _ = make_pool("a", "b", clock=clock, store=store, seed=2)
    await two.choose(MODEL)  # warms two's cache: nobody is cooling down
    choice = await one.choose(MODEL, exclude=frozenset({"b"}))
    await one.record(choice, fail(UpstreamRateLimited("429", retry_after=30)))
    clock.advance(1.01)
    picks = set()
    for _ in range(20):
        c = await two.choose(MODEL)
        picks.add(c.account.id)
        await two.record(c, OK)
    assert picks == {"b"}


# ---- affinity -----------------------------------------------------------------------------------------


async def test_session_stays_on_its_pinned_account_while_it_is_healthy() -> None:
    pool, _, _ = make_pool("a", "b", "c")
    pinned = (await serve(pool, dict.fromkeys("abc", OK), session_id="s1")).account.id
    for _ in range(3):  # the pinned account gets worse, but not unhealthy
        await pool.record(await pool.choose(MODEL, exclude=frozenset("abc") - {pinned}), fail())
    for _ in range(20):  # and the others look better
        await pool.record(await pool.choose(MODEL, exclude=frozenset({pinned})), OK)
    outcomes = dict.fromkeys("abc", Outcome(ok=False, error=UpstreamBadRequest("neutral")))
    with_session = [(await serve(pool, outcomes, session_id="s1")).account.id for _ in range(30)]
    without = [(await serve(pool, outcomes)).account.id for _ in range(30)]
    assert with_session == [pinned] * 30
    assert without.count(pinned) < 10  # the pin, not the posterior, kept the session there


async def test_pin_breaks_when_the_account_is_unhealthy_and_moves() -> None:
    pool, _, _ = make_pool("a", "b")
    pinned = (await serve(pool, dict.fromkeys("ab", OK), session_id="s1")).account.id
    other = "b" if pinned == "a" else "a"
    choice = await pool.choose(MODEL, session_id="s1")
    await pool.record(choice, fail(UpstreamRateLimited("429", retry_after=60)))
    moved = await serve(pool, dict.fromkeys("ab", OK), session_id="s1")
    assert moved.account.id == other
    await pool.flush()  # pins reach the store at the next flush
    assert await pool.store.get(pin_key("s1")) == other.encode()


async def test_failover_with_exclude_repins() -> None:
    pool, _, _ = make_pool("a", "b")
    pinned = (await serve(pool, dict.fromkeys("ab", OK), session_id="s1")).account.id
    retry = await pool.choose(MODEL, session_id="s1", exclude=frozenset({pinned}))
    assert retry.account.id != pinned
    await pool.flush()
    assert await pool.store.get(pin_key("s1")) == retry.account.id.encode()


async def test_pin_expires() -> None:
    pool, clock, _ = make_pool("a", "b")
    await serve(pool, dict.fromkeys("ab", OK), session_id="s1")
    await pool.flush()
    clock.advance(pool.config.pin_seconds - 1)
    await serve(pool, dict.fromkeys("ab", OK), session_id="s1")  # use renews it
    await pool.flush()
    clock.advance(pool.config.pin_seconds - 1)
    assert await pool.store.get(pin_key("s1")) is not None
    clock.advance(2.0)
    assert await pool.store.get(pin_key("s1")) is None


# ---- registry reload ----------------------------------------------------------------------------------


async def test_removing_an_account_keeps_the_others_state() -> None:
    pool, _, registry = make_pool("a", "b")
    for other in ("b", "a"):
        for _ in range(3):
            await pool.record(await pool.choose(MODEL, exclude=frozenset({other})), OK)
    await pool.record(await pool.choose(MODEL, exclude=frozenset({"a"})), fail(UpstreamAuthError("401")))
    registry.items = [account("a")]
    rows = await by_id(pool)
    assert set(rows) == {"a"}
    assert rows["a"]["successes"] == 3
    assert (await pool.choose(MODEL)).account.id == "a"
    registry.items = [account("a"), account("b")]  # it comes back with its history
    rows = await by_id(pool)
    assert (rows["b"]["successes"], rows["b"]["failures"], rows["b"]["state"]) == (3, 1, "cooldown")


# ---- retry budget -------------------------------------------------------------------------------------


async def test_retry_budget_counts_retries_in_flight() -> None:
    pool, _, _ = make_pool("a")
    assert [await pool.allow_retry() for _ in range(4)] == [True, True, True, False]
    pool.retry_done()  # a retry settled: another may start
    assert await pool.allow_retry()
    for _ in range(30):  # 30 requests in flight: 20 % of them is 6
        pool.retries.begin()
    assert [await pool.allow_retry() for _ in range(4)] == [True, True, True, False]


# ---- snapshot -----------------------------------------------------------------------------------------


async def test_snapshot_fields_and_interval() -> None:
    pool, clock, _ = make_pool("a", "b")
    for i in range(30):
        clock.advance(1.0)
        c = await pool.choose(MODEL, exclude=frozenset({"b"}))
        ok = i % 10 != 0
        await pool.record(c, Outcome(ok=True, ttft=0.5 + i / 100, tokens_per_s=40.0) if ok else fail())
    held = await pool.choose(MODEL, exclude=frozenset({"a"}))
    rows = await by_id(pool)
    a, b = rows["a"], rows["b"]
    expected_keys = {
        "id",
        "name",
        "kind",
        "state",
        "reason",
        "posterior_mean",
        "interval_90",
        "successes",
        "failures",
        "cooldown_until",
        "in_flight",
        "p50_ttft",
    }
    assert expected_keys <= set(a)
    assert (a["state"], a["successes"], a["failures"], a["in_flight"]) == ("ok", 27, 3, 0)
    assert b["in_flight"] == 1 and b["successes"] == 0
    interval = a["interval_90"]
    mean = a["posterior_mean"]
    assert isinstance(interval, list) and isinstance(mean, float)
    low, high = interval
    assert 0 < low < mean < high < 1
    assert 0.8 < mean < 0.95
    assert b["interval_90"] == [0.05, 0.95]  # the uniform prior
    assert a["p50_ttft"] == pytest.approx(0.5 + 0.21, abs=0.02)
    assert b["p50_ttft"] is None
    await pool.record(held, OK)
    assert (await by_id(pool))["b"]["in_flight"] == 0


async def test_recording_twice_counts_once() -> None:
    pool, _, _ = make_pool("a")
    c = await pool.choose(MODEL)
    await pool.record(c, OK)
    await pool.record(c, OK)
    assert (await by_id(pool))["a"]["successes"] == 1
