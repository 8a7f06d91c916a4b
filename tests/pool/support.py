"""Helpers for the pool tests: account factories and a fixed registry."""

from __future__ import annotations

from qwen_server.providers.base import Account


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
