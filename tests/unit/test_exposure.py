"""Which requests count as reaching a deployed gateway (the fail-closed rule)."""

from __future__ import annotations

import pytest

from qwen_server.app.exposure import BIND_HOST, exposure, is_loopback


@pytest.fixture(autouse=True)
def local(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("VERCEL", "VERCEL_REGION", "AWS_LAMBDA_FUNCTION_NAME", BIND_HOST):
        monkeypatch.delenv(name, raising=False)


def scope(server: tuple[str, int] | None = ("127.0.0.1", 1325)) -> dict[str, object]:
    return {"type": "http", "server": server}


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "gateway.example.com", "192.168.1.2"])
def test_public_hosts(host: str) -> None:
    assert not is_loopback(host)


def test_a_loopback_server_is_not_exposed() -> None:
    assert exposure(scope()) is None
    assert exposure(scope(None)) is None
    assert exposure(scope(("testserver", 80))) is None, "an in-process client, not a network"


def test_platforms_and_binds_are_exposed(monkeypatch: pytest.MonkeyPatch) -> None:
    assert exposure(scope(("172.17.0.2", 1325))) == "the request arrived on a non-loopback address"
    monkeypatch.setenv(BIND_HOST, "0.0.0.0")
    assert exposure(scope()) == "it listens on 0.0.0.0"
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "qwen-chat")
    assert exposure(scope()) == "it runs on AWS Lambda"
    monkeypatch.setenv("VERCEL", "1")
    assert exposure(scope()) == "it runs on Vercel"


def test_a_proxied_request_is_exposed() -> None:
    """A reverse proxy on the same host connects from 127.0.0.1; its forwarding headers give it away."""
    for name in (b"x-forwarded-for", b"forwarded", b"x-real-ip"):
        proxied = {**scope(), "headers": [(name, b"203.0.113.9")]}
        assert "reverse proxy" in str(exposure(proxied))
    assert exposure({**scope(), "headers": [(b"user-agent", b"curl")]}) is None
