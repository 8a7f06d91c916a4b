"""Shared fixtures for the pool tests: a settable clock and account factories."""

from __future__ import annotations

from dataclasses import dataclass

from qwen_server.providers.base import Account


@dataclass
class FakeClock:
    now: float = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def account(aid: str, max_concurrent: int = 4, models: tuple[str, ...] | None = None) -> Account:
    return Account(
        id=aid,
        kind="qwen-web",
        base_url="https://chat.example",
        name=aid,
        token="t",
        max_concurrent=max_concurrent,
        models=models,
    )


class ListRegistry:
    """A registry whose account list tests can change, like a hot reload."""

    def __init__(self, accounts: list[Account]) -> None:
        self.items = list(accounts)

    def accounts(self) -> list[Account]:
        return self.items
