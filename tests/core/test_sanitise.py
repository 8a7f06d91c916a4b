"""Upstream error text loses secrets, identities, hosts and paths, and keeps its meaning."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from qwen_server.core import sanitise
from qwen_server.core.errors import StoreUnavailable, UpstreamError, UpstreamRateLimited
from qwen_server.providers.base import Account

ACCOUNT = Account(
    id="a1",
    kind="qwen-web",
    base_url="https://qwen.internal.example:8443",
    name="team-alpha",
    email="ops@example.com",
    password="hunter2-long",
    token="opaque-token-value",
)


@pytest.fixture(autouse=True)
def accounts() -> Iterator[None]:
    sanitise.watch(lambda: [ACCOUNT])
    yield
    sanitise.watch(list)


@pytest.mark.parametrize(
    ("raw", "gone"),
    [
        ("Incorrect API key provided: sk-abc***wxyz", "sk-abc"),
        ("key sk-proj-1234567890abcdef is invalid", "sk-proj"),
        ("account team-alpha is over quota", "team-alpha"),
        ("user ops@example.com is banned", "ops@example.com"),
        ("login hunter2-long refused", "hunter2-long"),
        ("token opaque-token-value expired", "opaque-token-value"),
        ("connect to 10.1.2.3:6379 failed", "10.1.2.3"),
        ("upstream qwen.internal.example:8443 timed out", "qwen.internal.example"),
        ("see https://user:pw@internal.example/x?y=1", "user:pw"),
        ("File /srv/app/handlers/chat.py, line 3", "/srv/app"),
        ("Authorization: Bearer abc.def.ghi rejected", "abc.def.ghi"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig invalid", "eyJhbGci"),
        ("request 9f8e7d6c5b4a39281706f5e4d3c2b1a0ffee failed", "9f8e7d6c5b4a"),
        ("cut off in the middle of opaque-tok", "opaque-tok"),  # a message truncated mid-secret
        ("cache.example.com unreachable", "cache.example.com"),
    ],
)
def test_secret_shapes_are_removed(raw: str, gone: str) -> None:
    assert gone not in sanitise.clean(raw)


def test_ordinary_wording_is_kept() -> None:
    text = "RateLimited: Too many requests, retry in 30 s (HTTP 429); model qwen3-max is busy"
    assert sanitise.clean(text) == text


def test_upstream_and_store_errors_are_cleaned_where_they_are_made() -> None:
    assert "ops@example.com" not in UpstreamRateLimited("quota of ops@example.com").message
    assert "hunter2-long" not in str(UpstreamError("bad password hunter2-long"))
    assert "10.0.0.5" not in StoreUnavailable("redis at redis://:pw@10.0.0.5:6379/0 is down").message
