"""A chat call's 401/403 is checked against the credential before it may count against the account."""

from __future__ import annotations

import random

import pytest

from qwen_server.core.errors import (
    NoAccounts,
    UpstreamAuthError,
    UpstreamForbidden,
    UpstreamTimeout,
)
from qwen_server.pool.choice import Outcome
from qwen_server.pool.config import PoolConfig
from qwen_server.pool.health import HealthConfig
from qwen_server.pool.pool import AccountPool
from qwen_server.providers.base import Account
from qwen_server.store.memory import MemoryStore
from tests.fake_clock import FakeClock
from tests.pool.support import ListRegistry, account

MODEL = "qwen3-max"
UNPURCHASED = Outcome(ok=False, error=UpstreamForbidden("upstream HTTP 403: AccessDenied.Unpurchased"))
OK = Outcome(ok=True, ttft=0.5, tokens_per_s=50.0, duration=1.0)


class Verifier:
    """Counts checks; refuses with `refuse`, or raises `error`, or accepts."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.refuse = False
        self.error: Exception | None = None

    async def __call__(self, acc: Account) -> None:
        self.calls.append(acc.id)
        if self.error is not None:
            raise self.error
        if self.refuse:
            raise UpstreamAuthError(f"{acc.name}: /models answered 401")


def make(
    *ids: str, verify: Verifier | None = None, config: PoolConfig | None = None
) -> tuple[AccountPool, FakeClock, Verifier]:
    clock = FakeClock()
    checker = verify or Verifier()
    pool = AccountPool(
        ListRegistry([account(i) for i in ids]),
        MemoryStore(clock),
        clock=clock,
        rng=random.Random(3),
        config=config,
        verify=checker,
    )
    return pool, clock, checker


async def row(pool: AccountPool, aid: str) -> dict[str, object]:
    return next(r for r in await pool.snapshot() if r["id"] == aid)


async def test_per_model_refusals_never_touch_health_and_cost_one_check() -> None:
    pool, clock, checker = make("a")
    for _ in range(20):
        await pool.record(await pool.choose("qwen-max-unpurchased"), UNPURCHASED)
        clock.advance(1.0)
    await pool.settle()
    assert checker.calls == ["a"], "one check per verify_seconds, however many 403s"
    state = await row(pool, "a")
    assert state["state"] == "ok" and state["disabled_until"] is None
    models = state["models"]
    assert isinstance(models, dict) and models["qwen-max-unpurchased"]["failures"] == 20
    await pool.record(await pool.choose(MODEL), OK)  # other models still served
    clock.advance(pool.config.verify_seconds + 1)
    await pool.record(await pool.choose("qwen-max-unpurchased"), UNPURCHASED)
    await pool.settle()
    assert checker.calls == ["a", "a"], "checked again once the interval is over"


async def test_a_refused_check_is_a_strike_and_the_second_disables_for_a_while() -> None:
    pool, clock, checker = make("a", "b")
    checker.refuse = True
    only_a = frozenset({"b"})
    await pool.record(await pool.choose(MODEL, exclude=only_a), UNPURCHASED)
    await pool.settle()
    assert (await row(pool, "a"))["state"] == "cooldown"
    clock.advance(pool.config.health.auth_cooldown)
    assert (await row(pool, "a"))["state"] == "suspect"
    probe = await pool.choose(MODEL)
    assert probe.account.id == "a", "the suspect is probed ahead of sampling"
    await pool.record(probe, UNPURCHASED)
    await pool.settle()
    assert checker.calls == ["a", "a"], "a refusal releases the lease: the probe's 403 is checked at once"
    state = await row(pool, "a")
    assert state["state"] == "disabled" and "401" in str(state["reason"])
    assert state["disabled_until"] == clock.now + pool.config.health.disable_seconds
    with pytest.raises(NoAccounts):
        await pool.choose(MODEL, exclude=only_a)


async def test_a_disabled_account_comes_back_as_suspect_and_one_probe_decides() -> None:
    pool, clock, checker = make("a", "b")
    checker.refuse = True
    await pool.verify_account(account("a"))
    clock.advance(pool.config.health.auth_cooldown)
    await pool.verify_account(account("a"))
    assert (await row(pool, "a"))["state"] == "disabled"
    clock.advance(pool.config.health.disable_seconds)
    assert (await row(pool, "a"))["state"] == "suspect"
    probe = await pool.choose(MODEL)
    assert probe.account.id == "a"
    await pool.record(probe, OK)
    state = await row(pool, "a")
    assert (state["state"], state["reason"]) == ("ok", None)


async def test_a_lapsed_account_whose_check_is_refused_again_is_disabled_at_once() -> None:
    pool, clock, checker = make("a")
    checker.refuse = True
    await pool.verify_account(account("a"))
    clock.advance(pool.config.health.auth_cooldown)
    await pool.verify_account(account("a"))
    clock.advance(pool.config.health.disable_seconds)
    assert await pool.verify_account(account("a")) is False
    assert (await row(pool, "a"))["state"] == "disabled"


async def test_an_accepted_check_settles_a_suspect() -> None:
    pool, clock, checker = make("a")
    checker.refuse = True
    await pool.verify_account(account("a"))
    clock.advance(pool.config.health.auth_cooldown)
    assert (await row(pool, "a"))["state"] == "suspect"
    checker.refuse = False
    assert await pool.verify_account(account("a")) is True
    assert (await row(pool, "a"))["state"] == "ok"


async def test_an_inconclusive_check_changes_nothing_and_is_not_repeated_at_once() -> None:
    pool, _, checker = make("a")
    checker.error = UpstreamTimeout("auth endpoint did not answer")
    assert await pool.verify_account(account("a")) is None
    assert await pool.verify_account(account("a")) is None
    assert checker.calls == ["a"]
    assert (await row(pool, "a"))["state"] == "ok"


async def test_without_a_verifier_a_refusal_is_only_the_arms_business() -> None:
    clock = FakeClock()
    pool = AccountPool(ListRegistry([account("a")]), MemoryStore(clock), clock=clock, rng=random.Random(1))
    for _ in range(10):
        await pool.record(await pool.choose(MODEL), UNPURCHASED)
    assert await pool.verify_account(account("a")) is None
    assert (await row(pool, "a"))["state"] == "ok"


async def test_an_unexpected_verifier_error_is_logged_not_lost(caplog: pytest.LogCaptureFixture) -> None:
    pool, _, checker = make("a")
    checker.error = RuntimeError("bug in a verifier")
    await pool.record(await pool.choose(MODEL), UNPURCHASED)
    await pool.settle()
    assert "credential check of account a failed unexpectedly" in caplog.text
    assert (await row(pool, "a"))["state"] == "ok"


async def test_enable_brings_a_disabled_account_back_at_once() -> None:
    pool, clock, checker = make("a")
    checker.refuse = True
    await pool.verify_account(account("a"))
    clock.advance(pool.config.health.auth_cooldown)
    await pool.verify_account(account("a"))
    await pool.enable("a")
    assert (await row(pool, "a"))["state"] == "ok"
    assert (await pool.choose(MODEL)).account.id == "a"


async def test_a_disable_shorter_than_the_probe_interval_is_probed_as_soon_as_it_lapses() -> None:
    pool, clock, checker = make("a", "b", config=PoolConfig(health=HealthConfig(disable_seconds=5.0)))
    for _ in range(10):
        await pool.record(await pool.choose(MODEL, exclude=frozenset({"a"})), OK)
    checker.refuse = True
    await pool.record(await pool.choose(MODEL, exclude=frozenset({"b"})), UNPURCHASED)
    await pool.settle()
    clock.advance(pool.config.health.auth_cooldown)
    probe = await pool.choose(MODEL)
    assert probe.account.id == "a"
    await pool.record(probe, UNPURCHASED)
    await pool.settle()
    assert (await row(pool, "a"))["state"] == "disabled"
    clock.advance(5.0)
    assert 5.0 < pool.config.probe_seconds
    assert (await pool.choose(MODEL)).account.id == "a", "the refusal freed the probe lease"
