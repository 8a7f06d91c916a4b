"""The served model set: a union over accounts and upstreams, listed once per upstream, never one lock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from qwen_server.core.catalog import ModelCatalog
from qwen_server.core.errors import NotFound, UpstreamError
from qwen_server.core.model import ChatRequest, Event
from qwen_server.models_directory import ModelsDirectory
from qwen_server.providers.base import Account, ModelInfo

WEB = "https://chat.example"


def web(i: int, base_url: str = WEB) -> Account:
    return Account(id=f"web{i}", kind="qwen-web", base_url=base_url, name=f"web{i}", token="t")


VLLM = Account(
    id="vllm", kind="openai", base_url="http://vllm/v1", name="vllm", api_key="k", models=("qwen3-32b",)
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Accounts:
    def __init__(self, *accounts: Account) -> None:
        self.items = list(accounts)

    def accounts(self) -> list[Account]:
        return self.items


class FakeProvider:
    """Lists `models` per base_url; `fail` makes named accounts fail; `gate` holds every listing."""

    def __init__(self, models: dict[str, list[str]]) -> None:
        self.models = models
        self.calls: list[str] = []
        self.fail: set[str] = set()
        self.gate: asyncio.Event | None = None
        self.in_flight = 0
        self.most_in_flight = 0

    async def list_models(self, account: Account) -> list[ModelInfo]:
        self.calls.append(account.id)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            if account.id in self.fail:
                raise UpstreamError(f"{account.id} cannot list")
            return [ModelInfo(id=m, capabilities=("vision",)) for m in self.models[account.base_url]]
        finally:
            self.in_flight -= 1

    def stream(self, request: ChatRequest, account: Account) -> AsyncIterator[Event]:
        raise NotImplementedError

    async def verify(self, account: Account) -> None:
        return None


def directory(
    *accounts: Account, provider: FakeProvider | None = None, clock: Clock | None = None, timeout: float = 5.0
) -> tuple[ModelsDirectory, FakeProvider, Clock]:
    provider = provider or FakeProvider({WEB: ["qwen3-max", "qwen-plus"]})
    clock = clock or Clock()
    found = ModelsDirectory(
        Accounts(*accounts),
        {"qwen-web": provider, "openai": provider},
        ModelCatalog(),
        cache_seconds=300.0,
        failure_seconds=30.0,
        timeout=timeout,
        clock=clock,
    )
    return found, provider, clock


def ids(models: list[ModelInfo]) -> list[str]:
    return [m.id for m in models]


async def test_the_readme_mix_serves_the_web_list_and_the_explicit_model() -> None:
    found, provider, _ = directory(web(0), web(1), web(2), VLLM)
    listing = await found.listing()
    assert listing.complete
    assert set(ids(listing.models)) == {"qwen3-max", "qwen-plus", "qwen3-32b"}
    assert provider.calls == ["web0"], "one listing per (kind, base_url), the explicit account not listed"
    assert await found.resolve("qwen3-32b") == ("qwen3-32b", None)
    assert await found.resolve("qwen3-max") == ("qwen3-max", None)
    with pytest.raises(NotFound):
        await found.resolve("no-such-model")


async def test_an_explicit_account_listed_first_does_not_hide_the_others() -> None:
    found, _, _ = directory(VLLM, web(0))
    assert set(ids(await found.upstream_models())) == {"qwen3-max", "qwen-plus", "qwen3-32b"}


async def test_each_upstream_is_listed_and_the_next_account_answers_when_one_fails() -> None:
    other = "https://other.example"
    provider = FakeProvider({WEB: ["qwen3-max"], other: ["qwen3-coder-plus"]})
    provider.fail = {"web0"}
    found, _, _ = directory(web(0), web(1), web(2, other), provider=provider)
    assert set(ids(await found.upstream_models())) == {"qwen3-max", "qwen3-coder-plus"}
    assert sorted(provider.calls) == ["web0", "web1", "web2"]


async def test_the_pool_sees_accounts_narrowed_to_their_upstreams_list() -> None:
    found, _, _ = directory(web(0), VLLM)
    assert [a.models for a in found.accounts()] == [None, ("qwen3-32b",)], "nothing known yet"
    await found.listing()
    narrowed = found.accounts()
    assert narrowed[0].models == ("qwen3-max", "qwen-plus") and narrowed[1] is VLLM
    assert found.accounts()[0] is narrowed[0], "cached: choose() calls this on every request"


async def test_a_failure_is_remembered_briefly_and_the_old_list_kept() -> None:
    found, provider, clock = directory(web(0))
    await found.listing()
    clock.now += 301
    provider.fail = {"web0"}
    assert ids(await found.upstream_models()) == ["qwen3-max", "qwen-plus"], "stale while refreshing"
    await asyncio.sleep(0)  # the background refresh fails
    assert len(provider.calls) == 2
    for _ in range(10):
        listing = await found.listing()
        assert listing.complete and ids(listing.models) == ["qwen3-max", "qwen-plus"]
    assert len(provider.calls) == 2, "a failure holds for failure_seconds"
    clock.now += 31
    provider.fail = set()
    provider.models[WEB] = ["qwen3-max", "qwen3.7-plus"]
    await found.listing()
    await asyncio.sleep(0)
    assert len(provider.calls) == 3
    assert ids(await found.upstream_models()) == ["qwen3-max", "qwen3.7-plus"]


async def test_without_any_list_the_fallback_stands_in_and_unknown_names_pass() -> None:
    provider = FakeProvider({WEB: []})
    provider.fail = {"web0"}
    found, _, _ = directory(web(0), VLLM, provider=provider)
    listing = await found.listing()
    assert not listing.complete
    assert "qwen3-32b" in ids(listing.models) and "qwen3-max" in ids(listing.models)  # explicit + fallback
    assert await found.resolve("a-model-the-upstream-may-know") == ("a-model-the-upstream-may-know", None)
    assert found.accounts()[0].models is None, "not narrowed to a list nobody obtained"


async def test_concurrent_callers_share_one_listing_and_upstreams_list_in_parallel() -> None:
    other = "https://other.example"
    provider = FakeProvider({WEB: ["qwen3-max"], other: ["qwen-plus"]})
    provider.gate = asyncio.Event()
    found, _, _ = directory(web(0), web(1), web(2, other), provider=provider)
    callers = [asyncio.create_task(found.listing()) for _ in range(20)]
    await asyncio.sleep(0.01)
    assert provider.calls == ["web0", "web2"], "one in flight per upstream, both at once"
    provider.gate.set()
    results = await asyncio.gather(*callers)
    assert all(set(ids(r.models)) == {"qwen3-max", "qwen-plus"} for r in results)
    assert provider.most_in_flight == 2


async def test_a_hanging_upstream_costs_one_short_wait_then_none() -> None:
    provider = FakeProvider({WEB: ["qwen3-max"]})
    provider.gate = asyncio.Event()  # never set: the upstream hangs
    found, _, _ = directory(web(0), VLLM, provider=provider, timeout=0.2)
    first = await asyncio.wait_for(asyncio.gather(*(found.listing() for _ in range(5))), 30)  # not stuck
    assert all(not r.complete and "qwen3-32b" in ids(r.models) for r in first)
    second = await found.listing()  # the hanging upstream is not asked again: the failure is remembered
    assert not second.complete and len(provider.calls) == 1


async def test_a_caller_that_goes_away_does_not_cancel_the_listing() -> None:
    provider = FakeProvider({WEB: ["qwen3-max"]})
    provider.gate = asyncio.Event()
    found, _, _ = directory(web(0), provider=provider)
    leaving = asyncio.create_task(found.listing())
    await asyncio.sleep(0.01)
    leaving.cancel()
    staying = asyncio.create_task(found.listing())
    await asyncio.sleep(0.01)
    provider.gate.set()
    assert ids((await staying).models) == ["qwen3-max"]
    assert provider.calls == ["web0"]


async def test_aliases_resolve_without_listing() -> None:
    found, provider, _ = directory(web(0))
    upstream, _thinking = await found.resolve("claude-sonnet-4-5")
    assert upstream and provider.calls == []
