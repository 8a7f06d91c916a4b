"""The keyless gateway's Host and Origin rules (end to end in tests/e2e/test_keyless_gateway.py)."""

from __future__ import annotations

import pytest

from qwen_server.app.keyless_guard import host_allowed, host_name, origin_allowed


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("localhost:1325", "localhost"),
        ("LocalHost.", "localhost"),
        ("[::1]:1325", "::1"),
        ("127.0.0.1", "127.0.0.1"),
        ("evil.example:80", "evil.example"),
        ("::1", "::1"),
        ("", ""),
    ],
)
def test_host_names(header: str, name: str) -> None:
    assert host_name(header) == name


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1", "127.9.9.9", "::1", "", "gw.internal"])
def test_hosts_no_page_can_rebind(name: str) -> None:
    assert host_allowed(name, "127.0.0.1", frozenset({"gw.internal"}))


@pytest.mark.parametrize(
    "name", ["evil.example", "localhost.evil.example", "10.0.0.7", "0.0.0.0", "gw.internal2"]
)
def test_foreign_hosts(name: str) -> None:
    assert not host_allowed(name, "127.0.0.1", frozenset({"gw.internal"}))


def test_the_local_address_and_a_wildcard() -> None:
    assert host_allowed("192.168.1.5", "192.168.1.5", frozenset())
    assert host_allowed("anything.example", None, frozenset({"*"}))


def test_origins() -> None:
    assert origin_allowed("http://127.0.0.1:1325", "127.0.0.1:1325", [])
    assert origin_allowed("http://app.example", "127.0.0.1:1325", ["http://app.example"])
    assert origin_allowed("https://any.example", "127.0.0.1:1325", ["*"])
    assert not origin_allowed("http://127.0.0.1:9999", "127.0.0.1:1325", [])
    assert not origin_allowed("https://evil.example", "127.0.0.1:1325", ["http://app.example"])
    assert not origin_allowed("null", "", [])
    assert not origin_allowed("null", "127.0.0.1:1325", [])
    assert not origin_allowed("http://[", "127.0.0.1:1325", [])  # unparsable (was a 500)
