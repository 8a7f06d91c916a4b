"""Per-tenant limits and usage counters on every store backend: two limiters (two instances) on one store
share one count, the window turns with the clock, and tokens charged by one instance refuse at the other."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from qwen_server.app.ratelimit import WINDOW, LimitTable, RateLimiter
from qwen_server.config import ConfigError
from qwen_server.observability.usage import UsageLedger
from qwen_server.store import Store
from tests.fake_clock import FakeClock


async def two(new_store: Callable[[], Store]) -> tuple[Store, Store]:
    """Two instances on one namespace (the first ping creates a DynamoDB table)."""
    first, second = new_store(), new_store()
    await first.ping()
    await second.ping()
    return first, second


def table(rpm: int = 0, tpm: int = 0, raw: str | None = None) -> LimitTable:
    return LimitTable(rpm, tpm, raw, lambda key: f"key-of-{key}")


async def test_requests_per_minute_are_shared_by_instances_and_reset_with_the_window(
    new_store: Callable[[], Store], clock: FakeClock
) -> None:
    clock.advance(WINDOW - (clock() % WINDOW) + 1)  # start just after a window turns
    first, second = await two(new_store)
    a, b = RateLimiter(first, table(rpm=3), clock), RateLimiter(second, table(rpm=3), clock)
    verdicts = [await a.admit("t1"), await b.admit("t1"), await a.admit("t1"), await b.admit("t1")]
    assert [v.refused_by if v else "none" for v in verdicts] == [None, None, None, "requests"]
    assert (
        verdicts[0] is not None
        and verdicts[0].headers(anthropic=False)["x-ratelimit-remaining-requests"] == "2"
    )
    assert (
        verdicts[2] is not None
        and verdicts[2].headers(anthropic=False)["x-ratelimit-remaining-requests"] == "0"
    )
    other = await a.admit("t2")
    assert other is not None and other.refused_by is None, "another tenant has its own count"
    clock.advance(WINDOW)
    turned = await b.admit("t1")
    assert turned is not None and turned.refused_by is None and turned.requests_used == 1
    for s in (first, second):
        await s.close()


async def test_tokens_charged_at_one_instance_refuse_at_the_other(
    new_store: Callable[[], Store], clock: FakeClock
) -> None:
    clock.advance(WINDOW - (clock() % WINDOW) + 1)
    first, second = await two(new_store)
    a, b = RateLimiter(first, table(tpm=100), clock), RateLimiter(second, table(tpm=100), clock)
    admitted = await a.admit("t1")
    assert admitted is not None and admitted.refused_by is None
    a.charge("t1", 60)
    a.charge("t1", 45)
    await a.settle()
    refused = await b.admit("t1")
    assert refused is not None and refused.refused_by == "tokens" and refused.tokens_used == 105
    headers = refused.headers(anthropic=True)
    assert headers["anthropic-ratelimit-tokens-limit"] == "100"
    assert headers["anthropic-ratelimit-tokens-remaining"] == "0"
    assert "anthropic-ratelimit-requests-limit" not in headers, "no request limit configured"
    for s in (first, second):
        await s.close()


async def test_usage_from_two_instances_adds_up(new_store: Callable[[], Store]) -> None:
    first, second = await two(new_store)
    one, other = UsageLedger(first), UsageLedger(second)
    one.add("key-a", requests=1, input_tokens=10, output_tokens=5)
    other.add("key-a", requests=1, input_tokens=7, output_tokens=3)
    other.add("key-b", requests=1)
    await one.flush()
    report = await other.report()
    rows = {row["tenant"]: row for row in report}
    assert rows["key-a"]["requests"] == 2
    assert rows["key-a"]["input_tokens"] == 17 and rows["key-a"]["output_tokens"] == 8
    assert rows["key-b"]["requests"] == 1 and rows["key-b"]["input_tokens"] == 0
    for s in (first, second):
        await s.close()


def test_per_key_limits_override_the_global_ones_field_by_field() -> None:
    raw = '{"alpha": {"rpm": 2}, "key-0123456789ab": {"tpm": 0}, "key-prod-7": {"rpm": 5}}'
    limits = table(rpm=10, tpm=1000, raw=raw)
    assert (limits.for_tenant("key-of-alpha").rpm, limits.for_tenant("key-of-alpha").tpm) == (2, 1000)
    # a tenant id as logged (`key-` and 12 hex digits) names that tenant
    assert (limits.for_tenant("key-0123456789ab").rpm, limits.for_tenant("key-0123456789ab").tpm) == (10, 0)
    # a gateway key that only begins with `key-` is a key: its limits are its tenant's
    assert limits.for_tenant("key-of-key-prod-7").rpm == 5 and limits.for_tenant("key-prod-7").rpm == 10
    assert (limits.for_tenant("someone-else").rpm, limits.for_tenant("someone-else").tpm) == (10, 1000)
    assert not table().active


@pytest.mark.parametrize(
    "raw", ["[1]", "{", '{"k": 5}', '{"k": {"rpm": -1}}', '{"k": {"rpm": "lots"}}', '{"k": {"rps": 1}}']
)
def test_bad_rate_limits_name_the_variable(raw: str) -> None:
    with pytest.raises(ConfigError, match="RATE_LIMITS"):
        table(raw=raw)


def test_reset_headers_in_each_sdks_format() -> None:
    from qwen_server.app.ratelimit import Limits, Verdict

    verdict = Verdict(Limits(rpm=10, tpm=0), requests_used=4, tokens_used=0, reset=0.85, now=1_800_000_000.0)
    openai_headers = verdict.headers(anthropic=False)
    assert openai_headers == {
        "x-ratelimit-limit-requests": "10",
        "x-ratelimit-remaining-requests": "6",
        "x-ratelimit-reset-requests": "850ms",
    }
    assert (
        Verdict(Limits(rpm=1), 1, 0, 125.2, 0.0).headers(anthropic=False)["x-ratelimit-reset-requests"]
        == "2m6s"
    )
    anthropic_headers = verdict.headers(anthropic=True)
    assert anthropic_headers["anthropic-ratelimit-requests-reset"] == "2027-01-15T08:00:01Z", (
        "rounded up: never early"
    )
    assert anthropic_headers["anthropic-ratelimit-requests-remaining"] == "6"


async def test_recent_usage_rolls_by_the_hour_and_day_across_instances(new_store: Callable[[], Store]) -> None:
    first, second = await two(new_store)
    now = [1_800_000_000.0]  # the ledgers' clock (a 5-minute and an hour boundary); the store keeps its own
    one, other = UsageLedger(first, lambda: now[0]), UsageLedger(second, lambda: now[0])
    one.add("key-a", requests=1, input_tokens=10, output_tokens=5)
    other.add("key-a", requests=1, errors=1)
    other.add("key-b", requests=3, input_tokens=1)
    await one.flush()
    recent = await other.recent()
    hour = {row["tenant"]: row for row in recent["hour"]["data"]}
    assert hour["key-a"] == {
        "tenant": "key-a", "requests": 2, "input_tokens": 10, "output_tokens": 5, "errors": 1,
    }  # fmt: skip
    assert [row["tenant"] for row in recent["hour"]["data"]] == ["key-b", "key-a"], "busiest first"
    assert recent["hour"]["since"] == now[0] - 11 * 300
    now[0] += 3600  # an hour on: out of the last hour, still in the last day
    one.add("key-b", requests=1)
    recent = await one.recent()
    assert [(r["tenant"], r["requests"]) for r in recent["hour"]["data"]] == [("key-b", 1)]
    day = {row["tenant"]: row["requests"] for row in recent["day"]["data"]}
    assert day == {"key-a": 2, "key-b": 4}
    now[0] += 23 * 3600  # a day on: out of both windows
    recent = await one.recent()
    assert recent["hour"]["data"] == [] and [r["requests"] for r in recent["day"]["data"]] == [1]
    daily = {(row["day"], row["tenant"]): row for row in await one.report()}
    assert daily[("2027-01-15", "key-a")]["errors"] == 1, "the daily report counts errors too"
    for s in (first, second):
        await s.close()
